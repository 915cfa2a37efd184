#include "daemon/sinks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <systemd/sd-journal.h>

#include "api/router.h"
#include "common/unique_fd.h"

namespace enospcd {
namespace {

std::string text_of(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string member_text(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) ? text_of(j[key]) : "";
}

class JournaldSink : public EventSink {
 public:
  void write(const nlohmann::json& event) override {
    std::vector<std::string> fields = journald_fields(event);
    std::string summary = member_text(event.value("cause", nlohmann::json()), "summary");
    if (summary.empty())
      summary = member_text(event, "syscall") + "(2) by " + member_text(event, "comm") + " (pid " +
                member_text(event, "pid") + ") failed with " + member_text(event, "errno");
    fields.push_back("MESSAGE=" + summary);
    fields.push_back("PRIORITY=4");
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (auto& f : fields) iov.push_back({f.data(), f.size()});
    int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    std::lock_guard<std::mutex> lk(mu_);
    if (r < 0) {
      if (failed_++ == 0) spdlog::warn("events to journald: {} (counted in status from now on)", std::strerror(-r));
    } else {
      sent_++;
    }
  }
  nlohmann::json status() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return {{"kind", "journald"}, {"written", sent_}, {"failed", failed_}};
  }

 private:
  mutable std::mutex mu_;
  uint64_t sent_ = 0, failed_ = 0;
};

class NdjsonFileSink : public EventSink {
 public:
  explicit NdjsonFileSink(NdjsonFileOptions o) : o_(std::move(o)) {}

  Result<void> open() {
    UniqueFd fd(::open(o_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return Error{"cannot open the events file " + o_.path + ": " + std::strerror(errno), errno};
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return Error{"the events file " + o_.path + " is not a regular file", EINVAL};
    // The events name processes, paths and containers of every user.
    ::fchmod(fd.get(), 0600);
    size_ = static_cast<uint64_t>(st.st_size);
    fd_ = std::move(fd);
    return {};
  }

  void write(const nlohmann::json& event) override {
    // As the API writes it (integers beyond 2^53 as strings of digits), one line.
    std::string line = api::dump_json(event);
    std::lock_guard<std::mutex> lk(mu_);
    if (fd_.get() >= 0 && size_ > 0 && size_ + line.size() > o_.max_bytes) rotate();
    if (fd_.get() < 0) {
      failed_++;
      return;
    }
    // O_APPEND: one write(2) per line, so that a reader never sees half of one, unless the disk is full.
    ssize_t n = ::write(fd_.get(), line.data(), line.size());
    if (n == static_cast<ssize_t>(line.size())) {
      written_++;
      size_ += line.size();
      return;
    }
    int err = n < 0 ? errno : ENOSPC;
    if (failed_++ == 0) spdlog::warn("events file {}: {} (counted in status from now on)", o_.path, std::strerror(err));
    if (n > 0) {
      // Never leave a line cut short: the next line starts on its own.
      (void)!::ftruncate(fd_.get(), static_cast<off_t>(size_));
    }
  }

  void reopen() override {
    std::lock_guard<std::mutex> lk(mu_);
    reopen_locked();
  }

  nlohmann::json status() const override {
    std::lock_guard<std::mutex> lk(mu_);
    return {{"kind", "ndjson"}, {"path", o_.path}, {"written", written_}, {"failed", failed_}, {"rotations", rotations_}};
  }

 private:
  void reopen_locked() {
    fd_ = UniqueFd();
    if (auto r = open(); !r) {
      if (failed_++ == 0) spdlog::warn("{}", r.error().message);
    }
  }
  void rotate() {
    for (unsigned i = o_.keep; i >= 1; i--) {
      std::string from = i == 1 ? o_.path : o_.path + "." + std::to_string(i - 1);
      std::string to = o_.path + "." + std::to_string(i);
      ::rename(from.c_str(), to.c_str());  // a missing one is simply not there yet
    }
    if (o_.keep == 0) ::unlink(o_.path.c_str());
    rotations_++;
    reopen_locked();
  }

  NdjsonFileOptions o_;
  mutable std::mutex mu_;
  UniqueFd fd_;
  uint64_t size_ = 0, written_ = 0, failed_ = 0, rotations_ = 0;
};

// journald field names: upper case, digits and '_'; values as they are (journald takes any bytes).
void add(std::vector<std::string>& out, const char* name, const std::string& value) {
  if (!value.empty()) out.push_back(std::string(name) + "=" + value);
}

}  // namespace

std::vector<std::string> journald_fields(const nlohmann::json& e) {
  // Field, the event's member it comes from (nullptr: the event itself), and the key.
  struct Field {
    const char* name;
    const char* object;
    const char* key;
  };
  static const Field kFields[] = {
      {"ENOSPCD_EVENT_ID", nullptr, "id"},      {"ENOSPCD_SYSCALL", nullptr, "syscall"},
      {"ENOSPCD_ERRNO", nullptr, "errno"},      {"ENOSPCD_PID", nullptr, "pid"},
      {"ENOSPCD_COMM", nullptr, "comm"},        {"ENOSPCD_UID", nullptr, "uid"},
      {"ENOSPCD_PATH", nullptr, "path"},        {"ENOSPCD_CAUSE", "cause", "id"},
      {"ENOSPCD_CONFIDENCE", "cause", "confidence"}, {"ENOSPCD_REMEDY", "cause", "remedy"},
      {"ENOSPCD_CONTAINER_ID", "container", "id"},   {"ENOSPCD_CONTAINER", "container", "name"},
      {"ENOSPCD_RUNTIME", "container", "runtime"},   {"ENOSPCD_POD", "container", "pod"},
      {"ENOSPCD_NAMESPACE", "container", "namespace"}, {"ENOSPCD_POD_UID", "container", "pod_uid"},
  };
  std::vector<std::string> f{"SYSLOG_IDENTIFIER=enospcd"};
  for (const auto& field : kFields)
    add(f, field.name, member_text(field.object ? e.value(field.object, nlohmann::json()) : e, field.key));
  if (!e.value("cause", nlohmann::json()).is_object()) f.emplace_back("ENOSPCD_CAUSE=unknown");
  std::string whole = api::dump_json(e);
  if (!whole.empty() && whole.back() == '\n') whole.pop_back();
  add(f, "ENOSPCD_JSON", whole);
  return f;
}

std::unique_ptr<EventSink> make_journald_sink() { return std::make_unique<JournaldSink>(); }

Result<std::unique_ptr<EventSink>> make_ndjson_sink(const NdjsonFileOptions& o) {
  auto s = std::make_unique<NdjsonFileSink>(o);
  if (auto r = s->open(); !r) return r.error();
  return std::unique_ptr<EventSink>(std::move(s));
}

}  // namespace enospcd
