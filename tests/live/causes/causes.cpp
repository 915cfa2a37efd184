#include "live/causes/causes.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace enospcd::testing::causes {

uint64_t Trigger::n(const std::string& key) const {
  auto it = kv.find(key);
  return it == kv.end() ? 0 : std::stoull(it->second);
}

std::string Trigger::s(const std::string& key) const {
  auto it = kv.find(key);
  return it == kv.end() ? "" : it->second;
}

Trigger run_trigger(const std::vector<std::string>& args, std::optional<uint32_t> as_uid) {
  std::vector<std::string> argv;
  if (as_uid) {
    argv = {"setpriv", "--reuid=" + std::to_string(*as_uid), "--regid=" + std::to_string(*as_uid),
            "--clear-groups"};
  }
  argv.push_back(ENOSPC_TRIGGER);
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv);
  Trigger t;
  t.exit_code = r.exit_code;
  t.out = r.out;
  // The result line is the last line that starts with "pid=".
  std::istringstream lines(r.out);
  std::string line, result;
  while (std::getline(lines, line))
    if (line.rfind("pid=", 0) == 0) result = line;
  std::istringstream words(result);
  std::string w;
  while (words >> w) {
    auto eq = w.find('=');
    if (eq != std::string::npos) t.kv[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return t;
}

Tracer::Tracer(std::vector<std::string> extra_args)
    : daemon_([&] {
        std::vector<std::string> a = {daemon_binary(), "--once", "--duration", "120s", "-o", "json", "--events",
                                      "10000"};
        a.insert(a.end(), extra_args.begin(), extra_args.end());
        return a;
      }()) {}

// Tracing is live at wait_ready(); the numbers BPF reads through kernel symbols (fs.mount-max at the failure)
// follow once /proc/kallsyms is read in the background. The tests trigger after both.
bool Tracer::ready() {
  if (!daemon_.wait_ready()) return false;
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30); std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(std::chrono::milliseconds(20)))
    if (daemon_.stderr_text().find("start-up complete") != std::string::npos) return true;
  return false;
}

json Tracer::finish() {
  // Generous: other tests on the host may keep the daemon busy with their failures for a while.
  auto code = daemon_.stop(SIGINT, std::chrono::seconds(20));
  EXPECT_TRUE(code.has_value()) << "daemon did not exit after SIGINT";
  EXPECT_EQ(code.value_or(-1), 0) << daemon_.stderr_text();
  try {
    return json::parse(daemon_.stdout_text());
  } catch (const std::exception& e) {
    ADD_FAILURE() << "report is not JSON: " << e.what() << "\nstdout: " << daemon_.stdout_text()
                  << "\nstderr: " << daemon_.stderr_text();
    return json::object();
  }
}

std::vector<json> events_of(const json& report, uint32_t pid, const std::string& err) {
  std::vector<json> out;
  for (const auto& e : report.value("events", json::array()))
    if (e.value("pid", 0u) == pid && e.value("errno", "") == err) out.push_back(e);
  return out;
}

uint64_t top_count(const json& report, uint32_t pid, const std::string& syscall, const std::string& err) {
  uint64_t n = 0;
  for (const auto& r : report.value("top", json::array()))
    if (r.value("pid", 0u) == pid && r.value("syscall", "") == syscall && r.value("errno", "") == err)
      n += r.value("count", uint64_t{0});
  return n;
}

std::vector<json> expect_diagnosed(const json& report, const Trigger& t, const std::string& syscall,
                                   const std::string& cause, uint64_t failures, const std::string& err) {
  if (!report.contains("events")) {
    ADD_FAILURE() << "no report to find the failures of pid " << t.pid() << " in";
    return {};
  }
  auto events = events_of(report, t.pid(), err);
  EXPECT_EQ(events.size(), failures) << "events of pid " << t.pid() << " among the report's "
                                     << report["events"].size() << ": " << json(events).dump(2);
  for (const auto& e : events) {
    EXPECT_EQ(e.value("syscall", ""), syscall) << e.dump(2);
    const json& c = e.value("cause", json::object());
    EXPECT_NE(c.value("id", "unknown"), "unknown") << e.dump(2);
    EXPECT_EQ(c.value("id", ""), cause) << e.dump(2);
    EXPECT_FALSE(c.value("summary", "").empty()) << e.dump(2);
    EXPECT_FALSE(c.value("remedy", "").empty()) << e.dump(2);
  }
  EXPECT_EQ(top_count(report, t.pid(), syscall, err), failures);
  // The aggregate names the cause with at least these failures (other processes on the host may add more).
  bool listed = false;
  for (const auto& d : report.value("diagnosis", json::array()))
    if (d.value("cause", "") == cause && d.value("count", uint64_t{0}) >= failures) listed = true;
  EXPECT_TRUE(listed || failures == 0) << "no diagnosis entry for " << cause << ": "
                                       << report.value("diagnosis", json::array()).dump(2);
  return events;
}

void expect_summaries_contain(const std::vector<json>& events, const std::string& text) {
  for (const auto& e : events) {
    std::string summary = e["cause"].value("summary", "");
    EXPECT_NE(summary.find(text), std::string::npos) << "summary lacks \"" << text << "\":\n  " << summary;
  }
}

namespace {

std::string sysctl_path(const std::string& name) {
  std::string p = "/proc/sys/";
  for (char c : name) p.push_back(c == '.' ? '/' : c);
  return p;
}

bool write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text << "\n";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

SysctlGuard::SysctlGuard(std::string name) : path_(sysctl_path(name)) { saved_ = current(); }

SysctlGuard::~SysctlGuard() { restore(); }

void SysctlGuard::restore() {
  if (saved_ && current() != saved_) write_text(path_, *saved_);
}

bool SysctlGuard::set(uint64_t value) { return saved_ && write_text(path_, std::to_string(value)); }

std::optional<std::string> SysctlGuard::current() const {
  std::ifstream in(path_);
  std::string v;
  if (!std::getline(in, v)) return std::nullopt;
  return v;
}

LoopFs::LoopFs(const std::string& fstype, int size_mib, const std::string& mkfs_options,
               const std::string& mount_options, const std::string& image_dir) {
  std::string dir = image_dir;
  if (dir.empty()) dir = img_dir_.emplace().path();
  image_ = dir + "/fs.img";
  // Overwrite whatever the image looks like: mkfs.ext4 says so with -F, mkfs.xfs and mkfs.btrfs with -f.
  const std::string force = fstype == "ext4" ? "-F" : "-f";
  auto mk = sh("truncate -s " + std::to_string(size_mib) + "M " + image_ + " && mkfs." + fstype + " -q " + force +
               " " + mkfs_options + " " + image_ + " 2>&1");
  if (mk.exit_code != 0) {
    error_ = "mkfs." + fstype + " " + mkfs_options + ": " + mk.out;
    return;
  }
  // losetup first, so the test knows the device (quotactl(2) names it).
  auto lo = run({"losetup", "--find", "--show", image_});
  if (lo.exit_code != 0) {
    error_ = "losetup: " + lo.out;
    return;
  }
  device_ = lo.out.substr(0, lo.out.find('\n'));
  std::string opts = mount_options.empty() ? "" : " -o " + mount_options;
  auto m = sh("mount -t " + fstype + opts + " " + device_ + " " + mnt_.path() + " 2>&1");
  if (m.exit_code != 0) {
    error_ = "mount" + opts + ": " + m.out + sh("dmesg | tail -n 3").out;
    run({"losetup", "-d", device_});
    return;
  }
  // Release the loop device as soon as the filesystem goes, even if it is only lazily unmounted.
  run({"losetup", "-d", device_});
  ok_ = true;
}

LoopFs::~LoopFs() {
  if (!ok_) return;
  if (umount2(mnt_.path().c_str(), 0) != 0) umount2(mnt_.path().c_str(), MNT_DETACH);
}

StatFs stat_fs(const std::string& path) {
  struct statvfs s {};
  StatFs out;
  if (statvfs(path.c_str(), &s) != 0) return out;
  uint64_t bs = s.f_frsize ? s.f_frsize : s.f_bsize;
  out.total_bytes = s.f_blocks * bs;
  out.free_bytes = s.f_bfree * bs;
  out.avail_bytes = s.f_bavail * bs;
  out.inodes = s.f_files;
  out.inodes_free = s.f_ffree;
  return out;
}

}  // namespace enospcd::testing::causes
