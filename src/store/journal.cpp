#include "store/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/trusted_dir.h"
#include "model/event.h"

namespace enospcd {

namespace {

constexpr std::string_view kPrefix = "journal-";
constexpr std::string_view kPlainSuffix = ".ndjson";
constexpr std::string_view kGzSuffix = ".ndjson.gz";
constexpr std::string_view kTmpSuffix = ".tmp";
constexpr const char* kAggregates = "aggregates.json";
constexpr const char* kAggregatesTmp = "aggregates.json.tmp";
// Flush before the interval when this much is queued, so a burst does not reach max_pending (and what a storm
// queues, and the batch written from it, stay small).
constexpr uint64_t kLargePendingBytes = 512 << 10;
constexpr std::size_t kIoChunk = 1 << 16;

bool is_space_error(int err) { return err == ENOSPC || err == EDQUOT; }

// The first failing step of a sequence of system calls; later steps are skipped once one failed.
struct Step {
  int err = 0;
  const char* op = "";
  std::string name;

  bool ok() const { return err == 0; }
  // Records a failure unless one is recorded already. Pass errno (or an error number).
  void fail(int e, const char* what, const std::string& file) {
    if (err != 0) return;
    err = e;
    op = what;
    name = file;
  }
};

std::string errno_text(int err) { return std::generic_category().message(err); }

using Clock = std::chrono::steady_clock;

std::string frame(const nlohmann::json& record) {
  // replace: a comm or path with invalid UTF-8 must not make the record unwritable.
  std::string body = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  char head[40];
  int n = std::snprintf(head, sizeof(head), "%zu %08lx ", body.size(), static_cast<unsigned long>(crc));
  std::string line;
  line.reserve(static_cast<std::size_t>(n) + body.size() + 1);
  line.append(head, static_cast<std::size_t>(n));
  line += body;
  line += '\n';
  return line;
}

// One line without its '\n'. nullopt unless length, checksum and JSON all agree.
std::optional<nlohmann::json> parse_line(std::string_view line) {
  std::size_t i = 0;
  uint64_t len = 0;
  while (i < line.size() && i < 12 && line[i] >= '0' && line[i] <= '9') len = len * 10 + (line[i++] - '0');
  if (i == 0 || i >= line.size() || line[i] != ' ') return std::nullopt;
  i++;
  uint32_t crc = 0;
  std::size_t hex_start = i;
  for (; i < line.size() && i - hex_start < 8; i++) {
    char c = line[i];
    uint32_t v;
    if (c >= '0' && c <= '9')
      v = static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<uint32_t>(c - 'a' + 10);
    else
      return std::nullopt;
    crc = crc << 4 | v;
  }
  if (i - hex_start != 8 || i >= line.size() || line[i] != ' ') return std::nullopt;
  i++;
  std::string_view body = line.substr(i);
  if (body.size() != len) return std::nullopt;
  uLong actual = crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  if (static_cast<uint32_t>(actual) != crc) return std::nullopt;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

void parse_lines(std::string_view data, std::vector<nlohmann::json>& out, uint64_t& corrupt) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t nl = data.find('\n', pos);
    std::string_view line = data.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? data.size() : nl + 1;
    if (line.empty()) continue;  // the separator written after a torn line
    // Without its '\n' the line is a torn write, even if it happens to frame.
    auto j = nl == std::string_view::npos ? std::nullopt : parse_line(line);
    if (j)
      out.push_back(std::move(*j));
    else
      corrupt++;
  }
}

// errno on failure, 0 on success.
int write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

int read_all(int fd, std::string& out) {
  char buf[kIoChunk];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Parses "journal-<digits><suffix>".
std::optional<uint64_t> parse_seq(std::string_view name, std::string_view suffix) {
  if (name.size() <= kPrefix.size() + suffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
      name.substr(name.size() - suffix.size()) != suffix)
    return std::nullopt;
  std::string_view digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Events are written with the id as a string of digits; journals of earlier versions hold numbers.
uint64_t record_id(const nlohmann::json& j) {
  auto it = j.find("id");
  if (it == j.end()) return 0;
  return json_u64(*it).value_or(0);
}

}  // namespace

Journal::Journal(const JournalOptions& opts) : opts_(opts) {}

Result<std::unique_ptr<Journal>> Journal::open(const JournalOptions& opts) {
  if (opts.dir.empty()) return make_error("journal: no state directory given");
  if (opts.segment_bytes == 0) return make_error("journal: segment size must be positive");
  if (opts.max_bytes < 2 * opts.segment_bytes)
    return make_error("journal: the size cap (" + std::to_string(opts.max_bytes) +
                      " bytes) must be at least twice the segment size (" + std::to_string(opts.segment_bytes) +
                      " bytes)");
  if (opts.retry_initial.count() <= 0 || opts.retry_max < opts.retry_initial)
    return make_error("journal: retry backoff must be positive and its maximum at least its start");
  std::unique_ptr<Journal> j(new Journal(opts));
  if (j->opts_.max_pending == 0) j->opts_.max_pending = 1;
  if (auto r = j->init(); !r) return r.error();
  return j;
}

Journal::~Journal() {
  std::lock_guard<std::mutex> lk(mu_);
  // One last attempt, whatever the backoff says: this is the daemon shutting down.
  if (!pending_.empty() || aggregate_dirty_) {
    auto r = flush_locked(Clock::now());
    if (!r && !pending_.empty())
      spdlog::warn("journal {}: {} records not written at shutdown: {}", opts_.dir, pending_.size(),
                   r.error().message);
  }
  close_active();
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

Error Journal::io_error(const std::string& what, const std::string& name, int err) const {
  std::string path = name.empty() ? opts_.dir : opts_.dir + "/" + name;
  return make_error(what + " " + path + ": " + errno_text(err), err);
}

std::string Journal::seg_name(uint64_t seq, bool compressed) const {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "journal-%08" PRIu64 "%s", seq, compressed ? ".ndjson.gz" : ".ndjson");
  return buf;
}

Result<void> Journal::ensure_dir() {
  if (dir_fd_ >= 0) return {};
  // The journal's records come back as events after a restart: a directory that another user could replace
  // would let that user write them.
  auto dir = open_trusted_dir(opts_.dir, ::geteuid(), 0750);
  if (!dir) {
    if (is_space_error(dir.error().code)) return dir.error();
    return make_error("state directory " + opts_.dir + ": " + dir.error().message, dir.error().code);
  }
  // One daemon per state directory: two would interleave segments and delete each other's.
  if (::flock(dir->fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK)
      return make_error("state directory " + opts_.dir + " is in use by another enospcd (it holds the lock)", err);
    return make_error("cannot lock state directory " + opts_.dir + ": " + errno_text(err), err);
  }
  dir_fd_ = dir->fd.release();
  return {};
}

Result<void> Journal::init() {
  auto now = Clock::now();
  last_flush_ = now;
  if (auto r = ensure_dir(); !r) {
    // A full disk must not keep the daemon (whose subject is full disks) from starting.
    if (!is_space_error(r.error().code)) return r;
    enter_degraded(r.error(), now);
    return {};
  }
  if (auto r = probe(); !r) {
    if (!is_space_error(r.error().code))
      return make_error("state directory " + opts_.dir + " is not writable: " + errno_text(r.error().code),
                        r.error().code);
    enter_degraded(r.error(), now);
  }
  scan_dir();

  if (int afd = ::openat(dir_fd_, kAggregates, O_RDONLY | O_CLOEXEC); afd >= 0) {
    std::string data;
    int err = read_all(afd, data);
    ::close(afd);
    auto j = nlohmann::json::parse(data, nullptr, false);
    if (err == 0 && !j.is_discarded())
      aggregate_text_ = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    else
      spdlog::warn("journal {}: ignoring unreadable {}", opts_.dir, kAggregates);
  }

  // Plain segments other than the active one are left over from a crash or a failed compression.
  if (!degraded_) {
    if (auto r = compress_sealed(); !r) enter_degraded(r.error(), now);
  }
  return {};
}

Result<void> Journal::probe() {
  if (auto r = ensure_dir(); !r) return r;
  // Writability is checked by writing: access(2) says yes to root on a read-only or foreign-owned tree.
  std::string name = ".journal-probe." + std::to_string(::getpid());
  int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", name, errno);
  Step step;
  if (int e = write_all(fd, "\n", 1); e != 0) step.fail(e, "write", name);
  ::close(fd);
  ::unlinkat(dir_fd_, name.c_str(), 0);
  if (!step.ok()) return io_error(step.op, step.name, step.err);
  return {};
}

void Journal::scan_dir() {
  segments_.clear();
  int fd = ::dup(dir_fd_);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  ::rewinddir(d);
  std::map<uint64_t, uint64_t> plain, gz;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if ((name.substr(0, kPrefix.size()) == kPrefix && ends_with(name, kTmpSuffix)) || name == kAggregatesTmp) {
      ::unlinkat(dir_fd_, e->d_name, 0);  // an interrupted compression or snapshot
      continue;
    }
    struct stat st;
    if (name == kAggregates) {
      if (::fstatat(dir_fd_, e->d_name, &st, 0) == 0) aggregate_bytes_ = static_cast<uint64_t>(st.st_size);
      continue;
    }
    auto p = parse_seq(name, kPlainSuffix);
    auto g = p ? std::nullopt : parse_seq(name, kGzSuffix);
    if (!p && !g) continue;
    if (::fstatat(dir_fd_, e->d_name, &st, 0) != 0) continue;
    (p ? plain[*p] : gz[*g]) = static_cast<uint64_t>(st.st_size);
  }
  ::closedir(d);

  for (auto& [seq, bytes] : gz) {
    // The .gz was renamed into place only after its fsync, so it is whole; the crash came before the
    // plain file's unlink.
    if (plain.erase(seq)) ::unlinkat(dir_fd_, seg_name(seq, false).c_str(), 0);
    segments_[seq] = Segment{true, bytes};
  }
  for (auto& [seq, bytes] : plain) segments_[seq] = Segment{false, bytes};

  active_seq_ = 1;
  if (segments_.empty()) return;
  // Appending goes on in the newest plain segment; if it ends in a torn record, ensure_active_open starts
  // the next record on a fresh line so the fragment stays a line of its own.
  auto last = std::prev(segments_.end());
  bool full = last->second.compressed || last->second.bytes >= opts_.segment_bytes;
  active_seq_ = full ? last->first + 1 : last->first;
}

void Journal::close_active() {
  if (active_fd_ >= 0) ::close(active_fd_);
  active_fd_ = -1;
}

Result<void> Journal::ensure_active_open() {
  if (active_fd_ >= 0) return {};
  if (auto r = ensure_dir(); !r) return r;
  std::string name = seg_name(active_seq_, false);
  int fd = ::openat(dir_fd_, name.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return io_error("open", name, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("stat", name, err);
  }
  active_fd_ = fd;
  active_size_ = static_cast<uint64_t>(st.st_size);
  active_dir_synced_ = false;
  // A failed write whose rollback also failed can leave a fragment: start on a fresh line.
  char c = '\n';
  active_needs_sep_ =
      active_size_ > 0 && (::pread(fd, &c, 1, static_cast<off_t>(active_size_ - 1)) != 1 || c != '\n');
  segments_[active_seq_] = Segment{false, active_size_};
  return {};
}

Result<void> Journal::write_pending() {
  // Batches shrink by half after a full filesystem refused one, down to a single record: what fits is written
  // and kept, and only the record that does not fit waits for the retry.
  std::size_t max_records = SIZE_MAX;
  while (!pending_.empty()) {
    if (auto r = ensure_active_open(); !r) return r;
    if (active_size_ > 0 && active_size_ + pending_.front().size() > opts_.segment_bytes) {
      if (auto r = rotate(); !r) return r;
      continue;
    }
    std::string buf;
    if (active_needs_sep_) buf += '\n';
    std::size_t n = 0;
    uint64_t batch_bytes = 0;
    for (const auto& line : pending_) {
      // The first record always goes in, even one larger than a segment.
      if (n > 0 && (n >= max_records || active_size_ + buf.size() + line.size() > opts_.segment_bytes)) break;
      buf += line;
      batch_bytes += line.size();
      n++;
    }
    enforce_cap(buf.size());

    const std::string name = seg_name(active_seq_, false);
    Step step;
    if (int e = write_all(active_fd_, buf.data(), buf.size()); e != 0) step.fail(e, "write", name);
    if (step.ok() && ::fsync(active_fd_) != 0) step.fail(errno, "fsync", name);
    // A new file's directory entry must be durable too.
    if (step.ok() && !active_dir_synced_) {
      if (::fsync(dir_fd_) != 0) step.fail(errno, "fsync", "");
      active_dir_synced_ = step.ok();
    }
    if (!step.ok()) {
      // Cut back what part of the batch got in, so the retry does not leave a fragment before the
      // records it writes again; if that fails too the reopen sees the fragment and starts a new line.
      (void)::ftruncate(active_fd_, static_cast<off_t>(active_size_));
      close_active();
      if (is_space_error(step.err) && n > 1) {
        max_records = n / 2;
        continue;
      }
      return io_error(step.op, step.name, step.err);
    }
    active_size_ += buf.size();
    active_needs_sep_ = false;
    segments_[active_seq_].bytes = active_size_;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    pending_bytes_ -= batch_bytes;
    records_written_ += n;
  }
  return {};
}

Result<void> Journal::rotate() {
  // Every batch was fsynced after its write, so closing is enough to seal the segment.
  close_active();
  active_seq_++;
  active_size_ = 0;
  active_needs_sep_ = false;
  return compress_sealed();
}

Result<void> Journal::compress_sealed() {
  std::vector<uint64_t> sealed;
  for (const auto& [seq, seg] : segments_)
    if (!seg.compressed && seq != active_seq_) sealed.push_back(seq);
  for (uint64_t seq : sealed)
    if (auto r = compress_segment(seq); !r) return r;
  enforce_cap(0);
  return {};
}

Result<void> Journal::compress_segment(uint64_t seq) {
  if (auto r = ensure_dir(); !r) return r;
  const std::string plain = seg_name(seq, false), gz = seg_name(seq, true), tmp = gz + std::string(kTmpSuffix);
  int in = ::openat(dir_fd_, plain.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    if (errno == ENOENT) {
      segments_.erase(seq);
      return {};
    }
    return io_error("open", plain, errno);
  }
  int out = ::openat(dir_fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return io_error("create", tmp, err);
  }

  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper, so `zcat` reads the segments too.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ::close(in);
    ::close(out);
    ::unlinkat(dir_fd_, tmp.c_str(), 0);
    return make_error("journal: zlib deflateInit2 failed");
  }
  std::vector<unsigned char> ibuf(kIoChunk), obuf(kIoChunk);
  Step step;
  bool finished = false;
  while (!finished && step.ok()) {
    ssize_t n = ::read(in, ibuf.data(), ibuf.size());
    if (n < 0) {
      if (errno != EINTR) step.fail(errno, "read", plain);
      continue;
    }
    zs.next_in = ibuf.data();
    zs.avail_in = static_cast<uInt>(n);
    int flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
    do {
      zs.next_out = obuf.data();
      zs.avail_out = static_cast<uInt>(obuf.size());
      int zr = deflate(&zs, flush);
      if (zr == Z_STREAM_ERROR) {
        step.fail(EIO, "compress", plain);
        break;
      }
      std::size_t have = obuf.size() - zs.avail_out;
      if (int e = write_all(out, reinterpret_cast<const char*>(obuf.data()), have); e != 0) {
        step.fail(e, "write", tmp);
        break;
      }
      finished = zr == Z_STREAM_END;
    } while (zs.avail_out == 0);
  }
  deflateEnd(&zs);
  ::close(in);
  struct stat st {};
  if (step.ok() && ::fsync(out) != 0) step.fail(errno, "fsync", tmp);
  if (step.ok() && ::fstat(out, &st) != 0) step.fail(errno, "stat", tmp);
  if (::close(out) != 0) step.fail(errno, "close", tmp);
  if (step.ok() && ::renameat(dir_fd_, tmp.c_str(), dir_fd_, gz.c_str()) != 0) step.fail(errno, "rename", tmp);
  if (!step.ok()) {
    ::unlinkat(dir_fd_, tmp.c_str(), 0);
    return io_error(step.op, step.name, step.err);
  }
  // The .gz must be durable before the plain copy goes.
  if (::fsync(dir_fd_) != 0) return io_error("fsync", "", errno);
  ::unlinkat(dir_fd_, plain.c_str(), 0);
  segments_[seq] = Segment{true, static_cast<uint64_t>(st.st_size)};
  return {};
}

uint64_t Journal::total_bytes() const {
  uint64_t total = aggregate_bytes_;
  for (const auto& [seq, seg] : segments_) total += seg.bytes;
  return total;
}

void Journal::enforce_cap(uint64_t extra) {
  uint64_t total = total_bytes();
  while (total + extra > opts_.max_bytes) {
    // Oldest compressed segment first; a sealed plain one (compression failed) only when none is left.
    auto victim = segments_.end();
    for (auto it = segments_.begin(); it != segments_.end(); ++it)
      if (it->second.compressed && it->first != active_seq_) {
        victim = it;
        break;
      }
    if (victim == segments_.end())
      for (auto it = segments_.begin(); it != segments_.end(); ++it)
        if (it->first != active_seq_) {
          victim = it;
          break;
        }
    if (victim == segments_.end()) return;
    std::string name = seg_name(victim->first, victim->second.compressed);
    if (::unlinkat(dir_fd_, name.c_str(), 0) != 0 && errno != ENOENT) {
      last_error_ = io_error("delete", name, errno).message;
      return;
    }
    total -= std::min(total, victim->second.bytes);
    segments_.erase(victim);
    segments_deleted_++;
  }
}

Result<void> Journal::write_aggregate() {
  if (!aggregate_dirty_ || !aggregate_text_) return {};
  if (auto r = ensure_dir(); !r) return r;
  const std::string& body = *aggregate_text_;
  int fd = ::openat(dir_fd_, kAggregatesTmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return io_error("create", kAggregatesTmp, errno);
  Step step;
  if (int e = write_all(fd, body.data(), body.size()); e != 0) step.fail(e, "write", kAggregatesTmp);
  if (step.ok() && ::fsync(fd) != 0) step.fail(errno, "fsync", kAggregatesTmp);
  if (::close(fd) != 0) step.fail(errno, "close", kAggregatesTmp);
  if (step.ok() && ::renameat(dir_fd_, kAggregatesTmp, dir_fd_, kAggregates) != 0)
    step.fail(errno, "rename", kAggregatesTmp);
  if (!step.ok()) {
    ::unlinkat(dir_fd_, kAggregatesTmp, 0);
    return io_error(step.op, step.name, step.err);
  }
  if (::fsync(dir_fd_) != 0) return io_error("fsync", "", errno);
  aggregate_bytes_ = body.size();
  aggregate_dirty_ = false;
  return {};
}

void Journal::enter_degraded(const Error& err, Clock::time_point now) {
  last_error_ = err.message;
  if (!degraded_) {
    degraded_ = true;
    degraded_since_ = now;
    // A disk at the edge of full fails again soon after recovering: continue the backoff where it was
    // rather than restarting at its shortest, so recover/degrade pairs do not fill the log.
    bool relapse = recovered_at_ && now - *recovered_at_ < opts_.retry_max;
    backoff_ = relapse ? std::min(last_backoff_ * 2, opts_.retry_max) : opts_.retry_initial;
    dropped_at_degrade_ = records_dropped_;
    written_at_degrade_ = records_written_;
    spdlog::warn("journal {}: degraded: {}; keeping up to {} records in memory, retrying with backoff",
                 opts_.dir, err.message, opts_.max_pending);
  } else {
    backoff_ = std::min(backoff_ * 2, opts_.retry_max);
  }
  degraded_reason_ = err.message;
  degraded_code_ = err.code;
  next_retry_ = now + backoff_;
  free_at_failure_ = is_space_error(err.code) ? free_bytes() : std::nullopt;
}

void Journal::leave_degraded(Clock::time_point now) {
  double secs = std::chrono::duration<double>(now - degraded_since_).count();
  spdlog::info("journal {}: recovered after {:.1f}s; {} queued records written, {} dropped", opts_.dir, secs,
               records_written_ - written_at_degrade_, records_dropped_ - dropped_at_degrade_);
  degraded_ = false;
  degraded_reason_.clear();
  degraded_code_ = 0;
  recovered_at_ = now;
  last_backoff_ = backoff_;
  backoff_ = std::chrono::milliseconds(0);
}

Result<void> Journal::flush_locked(Clock::time_point now) {
  last_flush_ = now;
  // With nothing to write, a retry still has to show that the disk takes data before calling it recovered.
  bool idle = pending_.empty() && !aggregate_dirty_;
  Result<void> r = degraded_ && idle ? probe() : ensure_dir();
  if (r) r = write_pending();
  if (r) r = compress_sealed();
  if (r) r = write_aggregate();
  if (!r) {
    failed_flushes_++;
    enter_degraded(r.error(), now);
    return r;
  }
  if (degraded_) leave_degraded(now);
  return {};
}

void Journal::push_pending(std::string line) {
  pending_bytes_ += line.size();
  pending_.push_back(std::move(line));
  // Memory holds at most max_pending records, and never more than the disk cap would keep anyway.
  while (pending_.size() > 1 && (pending_.size() > opts_.max_pending || pending_bytes_ > opts_.max_bytes)) {
    pending_bytes_ -= pending_.front().size();
    pending_.pop_front();
    records_dropped_++;
  }
}

void Journal::append(const nlohmann::json& record) {
  std::string line;
  try {
    line = frame(record);
  } catch (const std::exception&) {
    std::lock_guard<std::mutex> lk(mu_);
    records_dropped_++;
    return;
  }
  std::lock_guard<std::mutex> lk(mu_);
  push_pending(std::move(line));
}

Result<void> Journal::flush() {
  std::lock_guard<std::mutex> lk(mu_);
  auto now = Clock::now();
  if (degraded_ && now < next_retry_) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_retry_ - now).count();
    return make_error("journal degraded: " + degraded_reason_ + " (next retry in " + std::to_string(ms) + " ms)",
                      degraded_code_);
  }
  return flush_locked(now);
}

std::optional<uint64_t> Journal::free_bytes() const {
  struct statvfs vfs{};
  if (dir_fd_ < 0 || ::fstatvfs(dir_fd_, &vfs) != 0) return std::nullopt;
  // Root writes into the blocks reserved for it.
  auto blocks = ::geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
  return static_cast<uint64_t>(blocks) * vfs.f_frsize;
}

bool Journal::space_returned(Clock::time_point now) {
  if (!is_space_error(degraded_code_) || !free_at_failure_ || now - space_checked_ < std::chrono::seconds(1))
    return false;
  space_checked_ = now;
  auto free_now = free_bytes();
  if (!free_now) return false;
  // Free space that was there already when the write failed (a quota, a filesystem out of inodes) is no reason
  // to try again before the backoff.
  uint64_t need = (pending_.empty() ? 0 : pending_.front().size()) + 8192;
  return *free_now >= *free_at_failure_ + need;
}

void Journal::maybe_flush(Clock::time_point now) {
  std::lock_guard<std::mutex> lk(mu_);
  if (degraded_) {
    if (now >= next_retry_ || space_returned(now)) (void)flush_locked(now);
    return;
  }
  if (pending_.empty() && !aggregate_dirty_) return;
  if (much_pending_locked() || now - last_flush_ >= opts_.flush_interval) (void)flush_locked(now);
}

bool Journal::much_pending_locked() const {
  return pending_bytes_ >= kLargePendingBytes || pending_.size() >= std::max<std::size_t>(1, opts_.max_pending / 2);
}

void Journal::flush_if_much_pending() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!degraded_ && much_pending_locked()) (void)flush_locked(Clock::now());
}

std::vector<nlohmann::json> Journal::read_segment(uint64_t seq, bool compressed) {
  std::vector<nlohmann::json> out;
  std::string name = seg_name(seq, compressed);
  int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    last_error_ = io_error("open", name, errno).message;
    return out;
  }
  std::string raw;
  int err = read_all(fd, raw);
  ::close(fd);
  if (err != 0) {
    last_error_ = io_error("read", name, err).message;
    return out;
  }
  if (!compressed) {
    parse_lines(raw, out, corrupt_skipped_);
    return out;
  }
  std::string data;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return out;
  zs.next_in = reinterpret_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  std::vector<unsigned char> obuf(kIoChunk);
  int zr = Z_OK;
  while (zr == Z_OK) {
    zs.next_out = obuf.data();
    zs.avail_out = static_cast<uInt>(obuf.size());
    zr = inflate(&zs, Z_NO_FLUSH);
    data.append(reinterpret_cast<const char*>(obuf.data()), obuf.size() - zs.avail_out);
  }
  inflateEnd(&zs);
  // A damaged stream still yields the records before the damage; the broken tail counts as corrupt.
  if (zr != Z_STREAM_END) {
    corrupt_skipped_++;
    last_error_ = "journal: " + opts_.dir + "/" + name + " is damaged; records after the damage are lost";
    if (auto nl = data.rfind('\n'); nl != std::string::npos)
      data.resize(nl + 1);
    else
      data.clear();
  }
  parse_lines(data, out, corrupt_skipped_);
  return out;
}

std::vector<nlohmann::json> Journal::load(std::size_t max_records) {
  std::lock_guard<std::mutex> lk(mu_);
  corrupt_skipped_ = 0;
  std::vector<nlohmann::json> out;
  if (max_records == 0 || dir_fd_ < 0) return out;
  // Newest segments first, stopping once enough are in hand: the cap allows far more records than a
  // caller wants back, and parsing them all would cost seconds and gigabytes.
  std::vector<std::vector<nlohmann::json>> chunks;
  std::size_t count = 0;
  for (auto it = segments_.rbegin(); it != segments_.rend() && count < max_records; ++it) {
    chunks.push_back(read_segment(it->first, it->second.compressed));
    count += chunks.back().size();
  }
  out.reserve(count);
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it)
    for (auto& j : *it) out.push_back(std::move(j));
  std::stable_sort(out.begin(), out.end(),
                   [](const nlohmann::json& a, const nlohmann::json& b) { return record_id(a) < record_id(b); });
  // A flush retried after an fsync error whose rollback failed can have written a record twice.
  out.erase(std::unique(out.begin(), out.end(),
                        [](const nlohmann::json& a, const nlohmann::json& b) {
                          uint64_t ia = record_id(a);
                          return ia != 0 && ia == record_id(b);
                        }),
            out.end());
  if (out.size() > max_records) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max_records));
  return out;
}

Result<void> Journal::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.clear();
  pending_bytes_ = 0;
  aggregate_text_.reset();
  aggregate_dirty_ = false;
  close_active();
  if (auto r = ensure_dir(); !r) return r;
  Step step;
  for (const auto& entry : segments_) {
    std::string name = seg_name(entry.first, entry.second.compressed);
    if (::unlinkat(dir_fd_, name.c_str(), 0) != 0 && errno != ENOENT) step.fail(errno, "delete", name);
  }
  if (::unlinkat(dir_fd_, kAggregates, 0) != 0 && errno != ENOENT) step.fail(errno, "delete", kAggregates);
  if (step.ok() && ::fsync(dir_fd_) != 0) step.fail(errno, "fsync", "");
  aggregate_bytes_ = 0;
  scan_dir();
  if (!step.ok()) {
    last_error_ = io_error(step.op, step.name, step.err).message;
    return io_error(step.op, step.name, step.err);
  }
  return {};
}

void Journal::append_aggregate(const nlohmann::json& snapshot) {
  append_aggregate_text(snapshot.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Journal::append_aggregate_text(std::string line) {
  std::string text = std::move(line) + "\n";
  std::lock_guard<std::mutex> lk(mu_);
  if (aggregate_text_ && *aggregate_text_ == text) return;  // unchanged: nothing to write (and fsync)
  aggregate_text_ = std::move(text);
  aggregate_dirty_ = true;
}

std::optional<nlohmann::json> Journal::last_aggregate() const {
  std::lock_guard<std::mutex> lk(mu_);
  if (!aggregate_text_) return std::nullopt;
  auto j = nlohmann::json::parse(*aggregate_text_, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

bool Journal::degraded() const {
  std::lock_guard<std::mutex> lk(mu_);
  return degraded_;
}

nlohmann::json Journal::status() const {
  std::lock_guard<std::mutex> lk(mu_);
  int64_t retry_in_ms = 0;
  if (degraded_)
    retry_in_ms = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(next_retry_ - Clock::now()).count());
  return {
      {"dir", opts_.dir},
      {"bytes_on_disk", total_bytes()},
      {"max_bytes", opts_.max_bytes},
      {"segment_bytes", opts_.segment_bytes},
      {"segments", segments_.size()},
      {"segments_deleted", segments_deleted_},
      {"records_written", records_written_},
      {"records_dropped", records_dropped_},
      {"corrupt_skipped", corrupt_skipped_},
      {"degraded", degraded_},
      {"degraded_reason", degraded_reason_},
      {"last_error", last_error_},
      {"pending", pending_.size()},
      {"pending_bytes", pending_bytes_},
      {"max_pending", opts_.max_pending},
      {"failed_flushes", failed_flushes_},
      {"backoff_ms", backoff_.count()},
      {"retry_in_ms", retry_in_ms},
  };
}

}  // namespace enospcd
