// Bounded on-disk journal of events and aggregate snapshots, so that a restart (even after kill -9) loses
// nothing that was flushed.
//
// Layout of the state directory:
//   journal-<seq>.ndjson      the active segment: plain, append-only, one framed record per line
//   journal-<seq>.ndjson.gz   sealed segments, gzip-compressed (written to a temp file, fsynced, renamed)
//   aggregates.json           the latest aggregate snapshot, replaced atomically (temp + fsync + rename)
//
// A record line is "<len> <crc32> <json>\n": len is the byte length of <json>, crc32 (zlib, 8 lowercase hex
// digits) its checksum. A line that does not frame exactly (a torn write, a flipped byte) is skipped and
// counted; it never hides the records around it.
//
// The journal's own ENOSPC (or EDQUOT, or any other I/O error) does not throw: records stay in a bounded
// memory queue (oldest dropped and counted beyond max_pending), status() says degraded and why, one line
// is logged on entering that state and one on leaving it, and flushes are retried with exponential
// backoff until they succeed again.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace enospcd {

struct JournalOptions {
  std::string dir = "/var/lib/enospcd";
  uint64_t segment_bytes = 4ull << 20;  // rotate the active segment beyond this size
  uint64_t max_bytes = 64ull << 20;     // hard cap on the directory's journal files, oldest deleted first
  std::size_t max_pending = 10000;      // records kept in memory while the disk cannot take them
  std::chrono::milliseconds flush_interval{1000};
  std::chrono::milliseconds retry_initial{1000};  // backoff after a failed flush, doubled per failure
  std::chrono::milliseconds retry_max{60000};
};

class Journal {
 public:
  // Creates the directory (mode 0750) if missing. A directory that cannot be created or written is an error
  // that names the path and the reason. A full filesystem is not: the journal then starts degraded.
  static Result<std::unique_ptr<Journal>> open(const JournalOptions& opts);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Queues a record (an event with a unique, increasing uint64 "id") for the next flush. Never blocks on
  // the disk beyond a flush running concurrently, never throws.
  void append(const nlohmann::json& record);
  // Writes and fsyncs the queued records and the latest aggregate snapshot. While degraded it only touches
  // the disk once the backoff has expired; otherwise it returns the degraded reason at once.
  Result<void> flush();
  // Flushes when flush_interval has passed since the last flush, or when much is queued; while degraded,
  // when the backoff has expired. Meant to be called often (e.g. after every ring-buffer poll).
  void maybe_flush(std::chrono::steady_clock::time_point now);
  // Flushes only when much is queued (a storm between the timed flushes), not on the interval and not while
  // degraded: for the path that queues each record, where an fsync on a timer would hold up the next one.
  void flush_if_much_pending();

  // The newest max_records records on disk (compressed and plain segments; queued records are not
  // included), oldest first by id, duplicates by id removed. Torn or corrupt lines are skipped and counted
  // (status "corrupt_skipped" is the count of the last load). Reads under the journal's lock: meant for
  // start-up, not for serving queries.
  std::vector<nlohmann::json> load(std::size_t max_records);

  // Forgets every record and the aggregate snapshot: those queued, and on disk every segment and
  // aggregates.json, the directory fsynced, so that nothing from before comes back after a restart.
  Result<void> reset();

  void append_aggregate(const nlohmann::json& snapshot);
  // The same, given as one line of JSON text (no newline).
  void append_aggregate_text(std::string line);
  // The latest snapshot: the one appended last, else the one found on disk at open.
  std::optional<nlohmann::json> last_aggregate() const;

  // {dir, bytes_on_disk, segments, records_written, records_dropped, corrupt_skipped, degraded,
  //  degraded_reason, last_error, pending, ...}
  nlohmann::json status() const;
  bool degraded() const;

 private:
  struct Segment {
    bool compressed = false;
    uint64_t bytes = 0;
  };
  explicit Journal(const JournalOptions& opts);

  Result<void> init();
  Result<void> ensure_dir();
  Result<void> probe();
  void scan_dir();
  Result<void> flush_locked(std::chrono::steady_clock::time_point now);
  // Enough queued to flush before the interval, so a burst does not reach max_pending.
  bool much_pending_locked() const;
  Result<void> write_pending();
  Result<void> ensure_active_open();
  Result<void> rotate();
  Result<void> compress_sealed();
  Result<void> compress_segment(uint64_t seq);
  void enforce_cap(uint64_t extra);
  Result<void> write_aggregate();
  void close_active();
  void enter_degraded(const Error& err, std::chrono::steady_clock::time_point now);
  void leave_degraded(std::chrono::steady_clock::time_point now);
  // Degraded by a full filesystem, which has gained room for the oldest queued record since the last failure
  // (looked at once a second at most): retry before the backoff says so.
  bool space_returned(std::chrono::steady_clock::time_point now);
  std::optional<uint64_t> free_bytes() const;
  void push_pending(std::string line);
  uint64_t total_bytes() const;
  std::string seg_name(uint64_t seq, bool compressed) const;
  std::vector<nlohmann::json> read_segment(uint64_t seq, bool compressed);
  Error io_error(const std::string& what, const std::string& name, int err) const;

  mutable std::mutex mu_;
  JournalOptions opts_;
  int dir_fd_ = -1;
  int active_fd_ = -1;
  uint64_t active_seq_ = 1;
  uint64_t active_size_ = 0;
  bool active_needs_sep_ = false;  // the file ends in a torn line: start with '\n'
  bool active_dir_synced_ = false;  // the directory entry of the active file is durable
  std::map<uint64_t, Segment> segments_;

  std::deque<std::string> pending_;  // framed, newline-terminated lines
  uint64_t pending_bytes_ = 0;

  // The latest aggregate as the line written to disk: a few hundred bytes per counter, where the JSON tree
  // took several times that for the daemon's lifetime.
  std::optional<std::string> aggregate_text_;
  bool aggregate_dirty_ = false;
  uint64_t aggregate_bytes_ = 0;

  uint64_t records_written_ = 0, records_dropped_ = 0, corrupt_skipped_ = 0;
  uint64_t segments_deleted_ = 0, failed_flushes_ = 0;
  bool degraded_ = false;
  int degraded_code_ = 0;
  std::string degraded_reason_, last_error_;
  uint64_t dropped_at_degrade_ = 0, written_at_degrade_ = 0;
  std::chrono::steady_clock::time_point last_flush_{}, degraded_since_{}, next_retry_{};
  // While degraded by a full filesystem: when its free space was last looked at (space_returned()).
  std::chrono::steady_clock::time_point space_checked_{};
  std::optional<uint64_t> free_at_failure_;  // the filesystem's free bytes when the last flush failed
  std::chrono::milliseconds backoff_{0}, last_backoff_{0};
  std::optional<std::chrono::steady_clock::time_point> recovered_at_;
};

}  // namespace enospcd
