// Origin probes: the data-driven table of kernel functions known to produce ENOSPC, and the loader that
// attaches each one by the ladder fexit -> kretprobe -> unavailable, decided by probing (BTF, kallsyms, a
// trial load), never by kernel version.
#pragma once

#include <cstdint>
#include <memory>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "enospcd/abi.h"
#include "loader/feature_probe.h"

struct origins_bpf;
struct btf;
struct bpf_link;

namespace enospcd {

struct OriginSpec {
  std::string func;
  std::string subsystem;  // mount, tmpfs, ext4, inotify, fanotify, epoll, ipc, mqueue, namespace, xattr, user
  bool null_is_error = false;  // a NULL pointer return means "no space" (e.g. 5.10's shmem_get_inode)
};

// The built-in table. Names differ between kernels (tmpfs accounting especially); every alternative is listed
// and probing picks what exists.
const std::vector<OriginSpec>& builtin_origins();

enum class OriginMode { Unavailable, Fexit, Kretprobe };
std::string origin_mode_name(OriginMode m);

struct OriginStatus {
  OriginSpec spec;
  OriginMode mode = OriginMode::Unavailable;
  std::string reason;     // why unavailable, or why a lower rung than fexit is live
  enospcd_ret_kind ret_kind = ENOSPCD_RET_INVALID;
  int nargs = -1;
};

// What BTF says about a function's prototype.
struct FuncProto {
  int nargs = 0;
  enum class Ret { Void, Int32, Int64, Bool, Pointer, Other } ret = Ret::Other;
};
std::optional<FuncProto> btf_func_proto(const btf* vmlinux, const std::string& name);
// The same for many names in one pass over the BTF (libbpf's name lookup is a linear scan per call).
std::map<std::string, FuncProto> btf_func_protos(const btf* vmlinux, const std::set<std::string>& names);
// The failure signal for a return type; RET_INVALID when the type cannot carry an errno (void, struct).
enospcd_ret_kind classify_return(const FuncProto& proto, bool null_is_error);

struct OriginConfig {
  std::vector<OriginSpec> origins;  // builtin + --probe
  std::vector<int> errnos{28};
  bool force_kretprobe = false;
  bool capture_stack = true;
};

// The attach ladder fexit -> kretprobe -> unavailable, apart from BPF so it is unit-tested with a fake probe
// and a fake attach. First what BTF says (protos, by function name); then one trial fexit load where the kernel
// has no kprobes (a kernel refusing fexit outright gives up before /proc/kallsyms is read); then kallsyms
// presence and the slot limit; then fexit for all, else kretprobe for all. attach(mode, ids, kprobes) loads
// and attaches those origins (ids index `status`), setting each one's mode and reason; detach() undoes it.
struct OriginLadder {
  std::vector<OriginStatus> status;  // one per OriginConfig::origins entry, in order
  std::string summary;
};
using OriginAttach = std::function<Result<void>(OriginMode mode, const std::vector<int>& ids, bool kprobes)>;
// status is filled before attach or detach is first called, and attach may change it (through the reference
// the caller gave it to the same OriginLadder).
void run_origin_ladder(const OriginConfig& cfg, FeatureProbe& probe, const std::map<std::string, FuncProto>& protos,
                       OriginLadder& out, const OriginAttach& attach, const std::function<void()>& detach);

class OriginTracer {
 public:
  // Never fails as a whole: what cannot attach is reported per function. nullptr-equivalent state (no live
  // origin) is visible through live_count() == 0, and the daemon then runs gate-only.
  static std::unique_ptr<OriginTracer> start(const OriginConfig& cfg, FeatureProbe& probe);
  ~OriginTracer();
  OriginTracer(const OriginTracer&) = delete;
  OriginTracer& operator=(const OriginTracer&) = delete;

  const std::vector<OriginStatus>& status() const { return ladder_.status; }
  // Function name by origin id (the index into status()).
  std::vector<std::string> names() const;
  int live_count() const;
  std::string summary() const;  // "gate-only: fexit refused (...); kprobes not built in" etc.

  int chains_fd() const;
  int chain_pending_fd() const;
  int losses_fd() const;

 private:
  OriginTracer() = default;
  // scan_stack: kretprobes find their callers by scanning the stack (the kernel cannot unwind through their
  // trampoline).
  Result<void> load_and_attach(const OriginConfig& cfg, OriginMode mode, const std::vector<int>& candidates,
                               bool kprobes, bool scan_stack);
  void detach();  // destroys the links and the skeleton

  origins_bpf* skel_ = nullptr;
  bool scans_stack_ = false;  // a live kretprobe finds its callers by scanning the stack
  std::vector<struct bpf_link*> links_;
  OriginLadder ladder_;
};

}  // namespace enospcd
