// Targeted mode's syscall set: which syscalls can return a watched errno and why (docs/targeted.md lists the
// same), as edited on the command line, and the kernel entry functions they are attached through, found in the
// kernel's BTF by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace enospcd {

struct TargetedSyscall {
  const char* name;  // as in the syscall table (names.h)
  const char* why;   // how it comes to return the errno
};

// The syscalls that can return ENOSPC (and, with the key syscalls, EDQUOT), one reason each.
const std::vector<TargetedSyscall>& enospc_syscalls();

// The set for these errnos: the derived one, then each edit in turn ("name" or "+name" adds, "-name" drops).
// An errno with no derived set (anything but ENOSPC and EDQUOT) is an error: targeted mode cannot promise
// completeness for it. Names must be syscalls of this architecture.
Result<std::vector<std::string>> targeted_set(const std::vector<int>& errnos, const std::vector<std::string>& edits);

// The entry functions of a syscall: the native one, and the compat ones (ia32 on x86_64, 32-bit on arm64)
// where this kernel has them, chosen from the function names in its BTF.
struct EntryFunctions {
  std::string syscall;
  std::vector<std::string> functions;  // native first; empty when the kernel has none by these names
};

// By the prefixes the kernel's BTF shows (its native read(2) entry): x86_64 "__x64_sys_" with compat
// "__ia32_compat_sys_" else "__ia32_sys_"; arm64 "__arm64_sys_" with compat "__arm64_compat_sys_". A kernel
// with neither gets no functions.
// Entry functions by name, with the id of their prototype in the kernel's BTF.
using BtfFunctions = std::map<std::string, uint32_t, std::less<>>;
std::vector<EntryFunctions> entry_functions(const std::vector<std::string>& syscalls, const BtfFunctions& btf_functions);

// The functions in the running kernel's BTF that look like syscall entry points. Their prototypes matter: a
// program may tail-call only programs attached to functions of the same prototype (the kernel compares them).
Result<BtfFunctions> kernel_syscall_functions();

}  // namespace enospcd
