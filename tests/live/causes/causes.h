// Shared pieces of the cause tests: the trigger program, the daemon in --once mode, and RAII guards for the
// filesystems and sysctls a test changes, so the host is restored even when an assertion fails.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <iomanip>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "diagnose/diagnose.h"
#include "support/live.h"

namespace enospcd::testing::causes {

using nlohmann::json;

inline constexpr uint32_t kNobody = 65534;
// How long a trigger keeps a lowered limit (and what it holds) after its last failure, so that the daemon,
// which reads sysctls and /proc when the event arrives, sees the state of the failure.
inline constexpr int kHoldMs = 300;

// One run of tests/programs/enospc_trigger, with its result line parsed ("pid=.. ok=.. enospc=.. ...").
struct Trigger {
  int exit_code = -1;
  std::string out;
  std::map<std::string, std::string> kv;
  uint64_t n(const std::string& key) const;  // 0 when absent
  std::string s(const std::string& key) const;
  uint32_t pid() const { return static_cast<uint32_t>(n("pid")); }
};

// Runs the trigger with args; as uid/gid `as_uid` (via setpriv, no supplementary groups) when given.
Trigger run_trigger(const std::vector<std::string>& args, std::optional<uint32_t> as_uid = std::nullopt);

// The daemon traced for the duration of one test: --once, JSON report, no event cap that could hide ours.
class Tracer {
 public:
  explicit Tracer(std::vector<std::string> extra_args = {});
  bool ready();
  std::string stderr_text() { return daemon_.stderr_text(); }
  // SIGINT, exit code 0, the JSON report.
  json finish();

 private:
  DaemonProcess daemon_;
};

// The report's events of one process with one errno.
std::vector<json> events_of(const json& report, uint32_t pid, const std::string& err = "ENOSPC");
// The exact in-kernel count of a process's failures of one syscall, from the report's "top" rows.
uint64_t top_count(const json& report, uint32_t pid, const std::string& syscall, const std::string& err = "ENOSPC");

// Asserts (non-fatally) that the trigger's `failures` are all in the report, each diagnosed as `cause` for
// `syscall` (never unknown), and that the exact counters agree. Returns the events.
std::vector<json> expect_diagnosed(const json& report, const Trigger& t, const std::string& syscall,
                                   const std::string& cause, uint64_t failures, const std::string& err = "ENOSPC");
// Every event's summary contains `text`.
void expect_summaries_contain(const std::vector<json>& events, const std::string& text);

// The summaries' number formats as docs/api.md shows them, written here and not taken from the daemon's code:
// "99 841" (groups of three digits, a space between) and "1.0 MiB" (binary units, one decimal; "512 B").
inline std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return out;
}
inline std::string human_bytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  long double v = static_cast<long double>(bytes) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) v /= 1024, u++;
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << static_cast<double>(v) << ' ' << units[u];
  return out.str();
}

// Saves a sysctl ("fs.mount-max") and writes the saved value back when destroyed.
class SysctlGuard {
 public:
  explicit SysctlGuard(std::string name);
  ~SysctlGuard();
  SysctlGuard(const SysctlGuard&) = delete;
  SysctlGuard& operator=(const SysctlGuard&) = delete;
  bool ok() const { return saved_.has_value(); }
  // The value read when constructed, nullopt if it could not be read.
  const std::optional<std::string>& saved() const { return saved_; }
  bool set(uint64_t value);
  // Writes the saved value back now (the destructor does it too, for the failure paths).
  void restore();
  std::optional<std::string> current() const;

 private:
  std::string path_;
  std::optional<std::string> saved_;
};

// mkfs.<fstype> on a sparse image file, loop-mounted; unmounted (and so the loop device released) when
// destroyed. The image lives in image_dir (a fresh temporary directory when empty).
class LoopFs {
 public:
  LoopFs(const std::string& fstype, int size_mib, const std::string& mkfs_options,
         const std::string& mount_options = "", const std::string& image_dir = "");
  ~LoopFs();
  LoopFs(const LoopFs&) = delete;
  LoopFs& operator=(const LoopFs&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return mnt_.path(); }
  const std::string& device() const { return device_; }  // /dev/loopN

 private:
  std::optional<TempDir> img_dir_;
  TempDir mnt_;
  std::string image_, device_, error_;
  bool ok_ = false;
};

class LoopExt4Fs : public LoopFs {
 public:
  LoopExt4Fs(int size_mib, const std::string& mkfs_options, const std::string& mount_options = "",
             const std::string& image_dir = "")
      : LoopFs("ext4", size_mib, mkfs_options, mount_options, image_dir) {}
};

struct StatFs {
  uint64_t total_bytes = 0, free_bytes = 0, avail_bytes = 0, inodes = 0, inodes_free = 0;
};
StatFs stat_fs(const std::string& path);

}  // namespace enospcd::testing::causes
