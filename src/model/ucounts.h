// The per-user-namespace counts (kernel/ucount.c) a failure was charged to, as BPF read them at the failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace enospcd {

// A per-user-namespace count (kernel/ucount.c) that can refuse with ENOSPC: inotify watches, or the namespaces
// of one type.
enum class UcountKind { InotifyWatches, UserNs, PidNs, UtsNs, IpcNs, NetNs, MntNs, CgroupNs, TimeNs, FanotifyMarks };

// One level inc_ucount() charged: the user namespace, the uid charged there, the count (nullopt when it could
// not be read) and the limit. Level 0 is the namespace the call was charged in, each next one its parent, where
// the namespace's creator is charged; the last is the initial namespace when `initial`.
struct UcountLevel {
  uint32_t userns = 0;
  uint32_t uid = 0;
  std::optional<int64_t> count;
  int64_t max = 0;
  bool initial = false;

  bool operator==(const UcountLevel&) const = default;
};

struct Ucounts {
  UcountKind kind = UcountKind::InotifyWatches;
  std::vector<UcountLevel> levels;
  // The first level at its limit (the one that refused), or nullopt when none was at it when read.
  std::optional<size_t> refusing() const;

  bool operator==(const Ucounts&) const = default;
};

// "inotify_watches", "mnt_namespaces", ...
const char* ucount_kind_name(UcountKind kind);
// The sysctl of the limit in a user namespace: "user.max_inotify_watches", "user.max_mnt_namespaces", ...
std::string ucount_sysctl(UcountKind kind);

// The JSON form of the refusing count ("ucounts"), and back (nullopt for a malformed one).
nlohmann::json to_json(const Ucounts& u);
std::optional<Ucounts> ucounts_from_json(const nlohmann::json& j);

}  // namespace enospcd
