// What a diagnosis concludes about one failure: which limit refused it (a cause id from a closed set), how sure
// the conclusion is, a one-line explanation with the numbers, a remedy, and the numbers themselves as evidence.
// Typed in the daemon; JSON only where it leaves (API, journal, logs).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/evidence.h"

namespace enospcd {

enum class CauseId : uint8_t {
  MountMax,
  TmpfsInodes,
  TmpfsBlocks,
  FsBlocks,
  FsInodes,
  FsReservedBlocks,
  Quota,
  InotifyWatches,
  FanotifyMarks,
  EpollWatches,
  NamespaceLimit,
  SysvIpc,
  Mqueue,
  XattrSpace,
  WritebackError,
  Device,
  Pty,
  Bpf,
  DirectoryIndex,
  Cpuset,
  CgroupIds,
  Unknown,
};

// high: the chain or numbers read at the failure show it; medium: implied by the syscall, or numbers read
// later; low: inferred.
enum class Confidence : uint8_t { Low, Medium, High };

// "mount_max", "tmpfs_inodes", ...: the ids of the API, the journal and the metrics.
std::string_view cause_name(CauseId id);
std::optional<CauseId> cause_from_name(std::string_view name);
// Every cause id, in the order of the enum.
const std::vector<CauseId>& all_causes();
std::string_view confidence_name(Confidence c);
std::optional<Confidence> confidence_from_name(std::string_view name);

struct Cause {
  CauseId id = CauseId::Unknown;
  Confidence confidence = Confidence::Low;
  std::string summary;
  std::string remedy;
  // The numbers and names the summary rests on (model/evidence.h).
  Evidence evidence;
  // Where the summary rests on numbers read from the host when the event was explained: how long after the
  // failure that was (shown in the JSON as evidence.read_after_ms).
  std::optional<uint64_t> read_after_ms;

  bool operator==(const Cause&) const = default;
};

// {id, summary, remedy, confidence, evidence}, and back (nullopt for an object with an id it does not know:
// a journal of a later version).
nlohmann::json to_json(const Cause& c);
std::optional<Cause> cause_from_json(const nlohmann::json& j);

// For test failure messages.
inline std::ostream& operator<<(std::ostream& os, CauseId id) { return os << cause_name(id); }
inline std::ostream& operator<<(std::ostream& os, Confidence c) { return os << confidence_name(c); }

}  // namespace enospcd
