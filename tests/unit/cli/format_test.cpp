#include "cli/format.h"

#include <unistd.h>

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

#include "cli/client.h"
#include "unit/api/fake_backend.h"

namespace enospcd::cli {
namespace {

using nlohmann::json;
using api::testing::make_event;

constexpr uint64_t kSec = 1'000'000'000ULL;
constexpr uint64_t kNow = 1714564800ULL * kSec;  // 2024-05-01T12:00:00Z
const std::string kEllipsis = "\xe2\x80\xa6";

class CliUtc : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
};

// Every line of `text` is at most `width` terminal columns.
::testing::AssertionResult fits(const std::string& text, std::size_t width) {
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl - start);
    if (display_width(line) > width)
      return ::testing::AssertionFailure() << display_width(line) << " columns: '" << line << "'";
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  return ::testing::AssertionSuccess();
}

TEST(CliTable, ColumnsAreAsWideAsTheirContent) {
  Table t{{"A", "LONG HEADER", "C"}, {{"wide cell", "x", "last"}, {"y", "", "z"}}};
  EXPECT_EQ(t.render(),
            "A          LONG HEADER  C\n"
            "wide cell  x            last\n"
            "y                       z\n");
  EXPECT_EQ((Table{{"ONLY"}, {}}).render(), "ONLY\n");
}

TEST(CliTable, Utf8CountsAsOneColumn) {
  Table t{{"N", "X"}, {{"\xc3\xa9t\xc3\xa9", "1"}, {"abcd", "2"}}};
  EXPECT_EQ(t.render(), "N     X\n\xc3\xa9t\xc3\xa9   1\nabcd  2\n");
}

TEST(CliTable, WidestFreeTextColumnIsCutFirst) {
  Table t{{"ID", "COMM", "PATH"},
          {{"1", "short", "/var/lib/containers/storage/overlay/0123456789abcdef/merged"}},
          {1, 2},
          {}};
  // 2 + 2 + 5 + 2 + 20 = 31 columns.
  EXPECT_EQ(t.render(31), "ID  COMM   PATH\n1   short  /var/lib/containers" + kEllipsis + "\n");
  // Unlimited: nothing cut.
  EXPECT_EQ(t.render(0), "ID  COMM   PATH\n1   short  /var/lib/containers/storage/overlay/0123456789abcdef/merged\n");
  // Both free-text columns down to their floor (6 columns, or the header), then as narrow as it gets.
  EXPECT_EQ(t.render(10), "ID  COMM   PATH\n1   short  /var/" + kEllipsis + "\n");
}

TEST(CliTable, EmptyColumnsThenDroppableColumnsGo) {
  Table t{{"ID", "TIME", "AGE", "CONTAINER", "PATH"},
          {{"7", "2024-05-01 12:00:00", "2s ago", "-", "/tmp/a"}, {"8", "2024-05-01 12:00:01", "1s ago", "-", "/b"}},
          {3, 4},
          {1}};
  EXPECT_EQ(t.render(40), "ID  TIME                 AGE     PATH\n7   2024-05-01 12:00:00  2s ago  /tmp/a\n"
                          "8   2024-05-01 12:00:01  1s ago  /b\n");
  EXPECT_EQ(t.render(20), "ID  AGE     PATH\n7   2s ago  /tmp/a\n8   1s ago  /b\n");
}

TEST(CliTable, CellsAreEscaped) {
  Table t{{"COMM", "PATH"}, {{"evil\ncomm", "\x1b]0;PWNED\a\x1b[2J\x1b[31mRED"}}};
  EXPECT_EQ(t.render(), "COMM        PATH\nevil\\ncomm  \\e]0;PWNED\\x07\\e[2J\\e[31mRED\n");
}

TEST(CliTruncate, EllipsisAtACharacterBoundary) {
  EXPECT_EQ(truncate("abcdef", 6), "abcdef");
  EXPECT_EQ(truncate("abcdef", 4), "abc" + kEllipsis);
  EXPECT_EQ(truncate("\xc3\xa9\xc3\xa9\xc3\xa9", 2), "\xc3\xa9" + kEllipsis);
  EXPECT_EQ(truncate("abc", 0), "");
}

TEST(CliTerminalWidth, ColumnsThenEighty) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);  // not a terminal
  setenv("COLUMNS", "123", 1);
  EXPECT_EQ(terminal_width(fds[1]), 123u);
  setenv("COLUMNS", "wide", 1);
  EXPECT_EQ(terminal_width(fds[1]), 80u);
  unsetenv("COLUMNS");
  EXPECT_EQ(terminal_width(fds[1]), 80u);
  close(fds[0]);
  close(fds[1]);
}

TEST(CliRelativeTime, Units) {
  EXPECT_EQ(relative_time(kNow, kNow), "just now");
  EXPECT_EQ(relative_time(kNow - kSec / 2, kNow), "just now");
  EXPECT_EQ(relative_time(kNow - 12 * kSec, kNow), "12s ago");
  EXPECT_EQ(relative_time(kNow - 59 * kSec, kNow), "59s ago");
  EXPECT_EQ(relative_time(kNow - 60 * kSec, kNow), "1m ago");
  EXPECT_EQ(relative_time(kNow - 3599 * kSec, kNow), "59m ago");
  EXPECT_EQ(relative_time(kNow - 7200 * kSec, kNow), "2h ago");
  EXPECT_EQ(relative_time(kNow - 3ULL * 86400 * kSec, kNow), "3d ago");
  EXPECT_EQ(relative_time(kNow + 5 * kSec, kNow), "in 5s");
}

TEST(CliHumanDuration, Units) {
  EXPECT_EQ(human_duration(0.4), "0s");
  EXPECT_EQ(human_duration(42.9), "42s");
  EXPECT_EQ(human_duration(288.624440457), "4m 48s");
  EXPECT_EQ(human_duration(2 * 3600 + 14 * 60 + 5), "2h 14m");
  EXPECT_EQ(human_duration(3 * 86400 + 4 * 3600 + 59), "3d 4h");
}

TEST_F(CliUtc, LocalTimeFollowsTz) {
  EXPECT_EQ(local_time(kNow), "2024-05-01 12:00:00");
  setenv("TZ", "Europe/Berlin", 1);
  tzset();
  EXPECT_EQ(local_time(kNow), "2024-05-01 14:00:00");
}

TEST(CliLabels, ContainerAndCause) {
  EXPECT_EQ(container_label(nullptr), "-");
  EXPECT_EQ(container_label(json{{"id", "0123456789abcdef0123"}, {"name", ""}}), "0123456789ab");
  EXPECT_EQ(container_label(json{{"id", "0123456789abcdef"}, {"name", "web-1"}}), "web-1");
  // A Kubernetes container: namespace/pod/container; a pod known without its container.
  EXPECT_EQ(container_label(json{{"id", "0123456789abcdef"}, {"name", "nginx"}, {"pod", "web-7d9f"},
                                 {"namespace", "shop"}, {"pod_uid", "5e3c2b1a-9f8e"}}),
            "shop/web-7d9f/nginx");
  EXPECT_EQ(container_label(json{{"id", ""}, {"pod", "web-7d9f"}, {"namespace", "shop"}}), "shop/web-7d9f");
  EXPECT_EQ(cause_label(nullptr), "-");
  EXPECT_EQ(cause_label(json{{"id", "tmpfs_inodes"}}), "tmpfs_inodes");
  EXPECT_EQ(cause_label("quota"), "quota");
  EXPECT_EQ(cell(json()), "-");
  EXPECT_EQ(cell(""), "-");
  EXPECT_EQ(cell(-28), "-28");
  EXPECT_EQ(cell(true), "yes");
  EXPECT_EQ(cell(192530), "192530");
  EXPECT_EQ(cell(0.25), "0.25");
}

TEST(CliCell, NeverJson) {
  EXPECT_EQ(cell(json{{"mount_point", "/tmp"}, {"inodes", 64}, {"nested", {{"a", 1}}}}), "inodes=64, mount_point=/tmp");
  EXPECT_EQ(cell(json::array({"ENOSPC", "EDQUOT"})), "ENOSPC, EDQUOT");
  EXPECT_EQ(cell(json::array({json{{"func", "count_mounts"}}, json{{"func", "path_mount"}}})), "2 entries");
  EXPECT_EQ(cell(json::object()), "-");
}

TEST(CliIds, NumbersAndDecimalStrings) {
  EXPECT_EQ(json_u64(json(7)), 7u);
  EXPECT_EQ(json_u64(json("7357189049442136123")), 7357189049442136123ULL);
  EXPECT_EQ(json_u64(json("18446744073709551615")), UINT64_MAX);
  EXPECT_FALSE(json_u64(json("18446744073709551616")));
  EXPECT_FALSE(json_u64(json("12a")));
  EXPECT_FALSE(json_u64(json("")));
  EXPECT_FALSE(json_u64(json(-1)));
}

TEST(CliEventTime, NsOrRfc3339) {
  EXPECT_EQ(event_time_ns(json{{"time_ns", kNow}}), kNow);
  EXPECT_EQ(event_time_ns(json{{"time_ns", std::to_string(kNow + 1)}}), kNow + 1);
  EXPECT_EQ(event_time_ns(json{{"time", "2024-05-01T12:00:00Z"}}), kNow);
  EXPECT_EQ(event_time_ns(json{{"time", "garbage"}}), 0u);
  EXPECT_EQ(event_time_ns(json::object()), 0u);
}

TEST_F(CliUtc, EventsTable) {
  json answer = {{"events",
                  {make_event(7, kNow - 12 * kSec, 4321, "runc:[2:INIT]", "mount", "mount_max",
                              {{"id", "f00dfacecafe1234"}, {"name", "web-1"}}),
                   make_event(3, kNow - 2ULL * 3600 * kSec, 17, "cp", "write", "")}}};
  answer["events"][1]["path"] = nullptr;
  EXPECT_EQ(render_events(answer, kNow),
            "ID  TIME                 AGE      PID   COMM           SYSCALL  ERRNO   CONTAINER  CAUSE      PATH\n"
            "7   2024-05-01 11:59:48  12s ago  4321  runc:[2:INIT]  mount    ENOSPC  web-1      mount_max  "
            "/var/lib/containers/overlay/merged\n"
            "3   2024-05-01 10:00:00  2h ago   17    cp             write    ENOSPC  -          -          -\n");
  EXPECT_EQ(render_events(json{{"events", json::array()}}, kNow), "no events\n");
}

TEST_F(CliUtc, EventsTableFitsEightyColumnsWithStringIds) {
  json e = make_event(0, kNow - 12 * kSec, 4321, "runc:[2:INIT]", "mount", "mount_max");
  e["id"] = "7357189049442136123";  // above 2^53: sent as a string
  e["time_ns"] = std::to_string(kNow - 12 * kSec);
  e["path"] = "/var/lib/containers/storage/overlay/0123456789abcdef0123456789abcdef/merged/usr/lib";
  json answer = {{"events", {e}}};
  std::string out = render_events(answer, kNow, Style{80, false});
  EXPECT_TRUE(fits(out, 80)) << out;
  EXPECT_NE(out.find("7357189049442136123  12s ago  4321"), std::string::npos) << out;
  EXPECT_NE(out.find(kEllipsis), std::string::npos) << out;
  EXPECT_EQ(out.find("2024-05-01"), std::string::npos) << "TIME goes before anything else is cut:\n" << out;
  // -o wide: everything.
  std::string wide = render_events(answer, kNow, Style{0, false});
  EXPECT_NE(wide.find(e["path"].get<std::string>()), std::string::npos) << wide;
  EXPECT_NE(wide.find("2024-05-01 11:59:48"), std::string::npos) << wide;
}

TEST_F(CliUtc, HostileKernelStringsAreEscapedEverywhere) {
  json e = make_event(9, kNow, 66, "evil\ncomm", "openat", "tmpfs_inodes", {{"id", "c0ffee"}, {"name", "ctr\x1b[1m"}});
  e["path"] = "/mnt/full/\x1b]0;PWNED\a\x1b[2J\x1b[31mRED";
  e["cause"]["summary"] = "openat(2) of /mnt/full/\x1b]0;PWNED\a by evil\ncomm failed";
  json answer = {{"events", {e}}};
  for (const std::string& out :
       {render_events(answer, kNow), render_events(answer, kNow, Style{80, false}), render_event(e, kNow),
        watch_line(e), watch_line(e, Style{80, false}),
        render_diagnosis(json{{"causes", {{{"cause", "tmpfs_inodes"}, {"count", 1}, {"latest", e["cause"]}}}}}, kNow),
        render_generic(e)}) {
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;
    EXPECT_EQ(out.find('\a'), std::string::npos) << out;
    EXPECT_EQ(out.find("evil\ncomm"), std::string::npos) << out;
  }
  EXPECT_NE(render_events(answer, kNow).find("/mnt/full/\\e]0;PWNED\\x07\\e[2J\\e[31mRED"), std::string::npos);
  EXPECT_NE(render_event(e, kNow).find("process:   evil\\ncomm pid 66"), std::string::npos) << render_event(e, kNow);
}

TEST(CliTopTable, DocumentedColumnsFirst) {
  json answer = {{"top",
                  {{{"pid", 4321}, {"comm", "runc"}, {"syscall", "mount"}, {"errno", "ENOSPC"}, {"count", 120},
                    {"container", {{"id", "abc"}, {"name", "web-1"}}}, {"cause", {{"id", "mount_max"}}}},
                   {{"pid", 17}, {"comm", "cp"}, {"syscall", "write"}, {"errno", "ENOSPC"}, {"count", 3},
                    {"container", nullptr}}}}};
  EXPECT_EQ(render_top(answer),
            "COUNT  PID   COMM  SYSCALL  ERRNO   CONTAINER  CAUSE\n"
            "120    4321  runc  mount    ENOSPC  web-1      mount_max\n"
            "3      17    cp    write    ENOSPC  -          -\n");
  EXPECT_EQ(render_top(json{{"top", json::array()}}), "no failures recorded\n");
}

TEST_F(CliUtc, ExplainShowsCauseThenEverythingElse) {
  json e = make_event(7, kNow - 65 * kSec, 4321, "runc", "mount", "mount_max", {{"id", "f00d"}, {"name", "web-1"}});
  e["tid"] = 4322;
  e["cause"]["evidence"] = {{"mounts", 100000}, {"mount_max", 100000}};
  e["chain"] = {{{"func", "count_mounts"}, {"ret", -28}, {"returns", 1}},
                {{"func", "path_mount"}, {"ret", -28}, {"returns", 1}}};
  e["chain_outer"] = {"__x64_sys_mount+0x10b", "do_syscall_64+0x38"};
  std::string out = render_event(e, kNow);
  EXPECT_EQ(out.substr(0, out.find("\n\n") + 1),
            "event:     7\n"
            "time:      2024-05-01 11:58:55 (1m ago)\n"
            "process:   runc pid 4321 tid 4322 uid 0\n"
            "syscall:   mount -> ENOSPC (ret -28)\n"
            "path:      /var/lib/containers/overlay/merged\n"
            "container: web-1\n"
            "chain:     count_mounts <- path_mount\n"
            "from:      __x64_sys_mount+0x10b <- do_syscall_64+0x38\n"
            "cause:     mount_max\n"
            "summary:   mount namespace has 100000 mounts, fs.mount-max is 100000\n"
            "remedy:    unmount leaked mounts or raise fs.mount-max\n");
  EXPECT_EQ(out.find("chain_outer"), std::string::npos) << out;
  EXPECT_NE(out.find("cause details:\n  evidence:\n    mount_max: 100000\n    mounts: 100000\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("cgroup_id: 4242\n"), std::string::npos) << out;

  json bare = make_event(8, kNow, 1, "x", "write", "");
  bare["container"] = nullptr;
  std::string b = render_event(bare, kNow);
  EXPECT_NE(b.find("container: - (host)\n"), std::string::npos) << b;
  EXPECT_NE(b.find("cause:     - (not diagnosed)\n"), std::string::npos) << b;

  // A retry counted on its link, links dropped in the middle, a stack cut short; kernel text escaped.
  json retry = make_event(9, kNow, 1, "dd", "write", "fs_blocks");
  retry["chain"] = {{{"func", "ext4_claim_free_clusters"}, {"ret", -28}, {"returns", 4}},
                    {{"func", "ext4_da_reserve_space\x1b[2J"}, {"ret", -28}, {"returns", 4}}};
  retry["chain_dropped"] = 3;
  retry["chain_outer"] = {"ext4_da_write_begin+0x1c1"};
  retry["chain_outer_truncated"] = "the kernel cannot unwind through a kretprobe trampoline";
  std::string r = render_event(retry, kNow);
  EXPECT_NE(r.find("chain:     ext4_claim_free_clusters (x4) <- ext4_da_reserve_space\\e[2J (x4) (3 links dropped "
                   "between the innermost and outermost)\n"
                   "from:      ext4_da_write_begin+0x1c1 <- (stack cut short)\n"),
            std::string::npos)
      << r;
  // A way out found by scanning the stack says a frame may be stale.
  retry.erase("chain_outer_truncated");
  retry["chain_outer"] = {"ext4_da_write_begin+0x1c1", "do_syscall_64+0x30"};
  retry["chain_outer_scanned"] = true;
  r = render_event(retry, kNow);
  EXPECT_NE(r.find("from:      ext4_da_write_begin+0x1c1 <- do_syscall_64+0x30 (return addresses found on the stack; "
                   "one may be stale)\n"),
            std::string::npos)
      << r;

  json string_id = make_event(0, kNow, 1, "x");
  string_id["id"] = "7357189049442136123";
  EXPECT_EQ(render_event(string_id, kNow).rfind("event:     7357189049442136123\n", 0), 0u);
}

TEST(CliGeneric, KeysAsSentNestedObjectsAndTables) {
  json status = {{"mode", "gate-only"},
                 {"uptime_s", 42},
                 {"watched_errnos", {"ENOSPC", "EDQUOT"}},
                 {"api", {{"socket", "/run/enospcd/enospcd.sock"}, {"group", nullptr}}},
                 {"probes", {{{"function", "count_mounts"}, {"mode", "unavailable"}},
                             {{"function", "shmem_reserve_inode"}, {"mode", "fexit"}, {"reason", "BTF"}}}},
                 {"empty", json::object()}};
  EXPECT_EQ(render_generic(status),
            "api:\n"
            "  group: -\n"
            "  socket: /run/enospcd/enospcd.sock\n"
            "empty: -\n"
            "mode: gate-only\n"
            "probes:\n"
            "  FUNCTION             MODE         REASON\n"
            "  count_mounts         unavailable  -\n"
            "  shmem_reserve_inode  fexit        BTF\n"
            "uptime_s: 42\n"
            "watched_errnos: ENOSPC, EDQUOT\n");
}

// The shape of /v1/status as the daemon sends it (src/daemon/daemon.cpp status_json()).
json daemon_status() {
  return json::parse(R"json({
    "version": "0.1.0", "kernel": "6.18.44-fc-v669", "pid": 4242, "mode": "gate-only",
    "mode_reason": "fexit refused by the kernel (Operation not permitted)",
    "origins": [{"func": "count_mounts", "subsystem": "mount", "mode": "unavailable", "reason": "fexit refused"},
                {"func": "shmem_reserve_inode", "subsystem": "tmpfs", "mode": "kretprobe", "reason": ""}],
    "gate": {"mode": "tp_btf", "attempts": [{"mode": "tp_btf", "live": true, "error": ""}], "attach_ms": 3.5},
    "errnos": ["ENOSPC", "EDQUOT"], "uptime_s": 288.624440457, "degraded": false,
    "journal": {"dir": "/var/lib/enospcd", "degraded": false, "degraded_reason": "", "records_written": 12},
    "tracing_s": 288.5,
    "counters": {"failures_counted": 192530, "events_received": 1200, "events_malformed": 0,
                 "events_unexplained": 0, "events_stored": 1000,
                 "losses": {"ringbuf_full": 0, "rate_limited": 191330}},
    "api": {"socket": "/run/enospcd/enospcd.sock"}})json");
}

TEST(CliStatus, TargetedModeShowsItsSetAndWhatTheCheckFound) {
  json st = daemon_status();
  st["gate"]["mode"] = "targeted";
  st["gate"]["targeted"] = {{"syscalls", 72}, {"entry_functions", 144}, {"prototypes", 2},
                            {"missing", json::array()}, {"added", {"mknodat"}},
                            {"untargeted_failures", {{"mknodat", 4}}}};
  std::string out = render_status(st, Style{120, false});
  EXPECT_NE(out.find("  tracing:  targeted gate, watching ENOSPC, EDQUOT\n"
                     "  targeted: 72 syscalls (144 entry functions); failures outside the set: mknodat 4\n"),
            std::string::npos)
      << out;
  st["gate"]["targeted"]["untargeted_failures"] = json::object();
  out = render_status(st, Style{120, false});
  EXPECT_NE(out.find("  targeted: 72 syscalls (144 entry functions)\n"), std::string::npos) << out;
  // The sys_exit gate has no such line.
  EXPECT_EQ(render_status(daemon_status(), Style{120, false}).find("targeted:"), std::string::npos);
}

TEST(CliStatus, SummaryFirstDetailsWithVerbose) {
  std::string out = render_status(daemon_status(), Style{80, false});
  EXPECT_EQ(out,
            "enospcd 0.1.0 (pid 4242) on Linux 6.18.44-fc-v669\n"
            "  mode:     gate-only (fexit refused by the kernel (Operation not permitted))\n"
            "  tracing:  tp_btf gate, watching ENOSPC, EDQUOT\n"
            "  uptime:   4m 48s\n"
            "  failures: 192530 counted, 1200 detailed events received, 1000 kept\n"
            "  losses:   rate_limited 191330\n"
            "  journal:  /var/lib/enospcd\n"
            "  socket:   /run/enospcd/enospcd.sock\n"
            "  probes:   1 live of 2 origin functions (-v lists them)\n");
  std::string verbose = render_status(daemon_status(), Style{80, true});
  EXPECT_EQ(verbose.rfind("enospcd 0.1.0 (pid 4242)", 0), 0u);
  EXPECT_NE(verbose.find("origins:\n  FUNC                 MODE         REASON         SUBSYSTEM\n"
                         "  count_mounts         unavailable  fexit refused  mount\n"),
            std::string::npos)
      << verbose;
  EXPECT_NE(verbose.find("  records_written: 12\n"), std::string::npos) << verbose;
  EXPECT_EQ(verbose.find('{'), std::string::npos) << verbose;

  json degraded = daemon_status();
  degraded["degraded"] = true;
  degraded["journal"]["degraded_reason"] = "No space left on device";
  EXPECT_NE(render_status(degraded).find("  journal:  /var/lib/enospcd, DEGRADED: No space left on device\n"),
            std::string::npos);
}

TEST_F(CliUtc, DiagnosisShowsTheLatestCauseNotItsJson) {
  json answer = json::parse(R"json({"causes": [{"cause": "tmpfs_inodes", "count": 7, "latest_event": "7357189049442136123",
    "first_time": "2024-05-01T11:50:00.000000Z", "last_time": "2024-05-01T11:58:00.000000Z",
    "latest": {"id": "tmpfs_inodes", "confidence": "medium",
               "summary": "openat(2) of /mnt/ci/obj70.o by touch (pid 21183, container -) failed: 64 of 64 inodes used.",
               "remedy": "Remount with more inodes (mount -o remount,nr_inodes=N /mnt/ci) or remove files.",
               "evidence": {"mount_point": "/mnt/ci", "inodes": 64, "free": 0, "big": [1, 2, 3]}}}]})json");
  EXPECT_EQ(render_diagnosis(answer, kNow),
            "tmpfs_inodes: 7 failures, last 2m ago (medium confidence), latest event 7357189049442136123\n"
            "  openat(2) of /mnt/ci/obj70.o by touch (pid 21183, container -) failed: 64 of 64 inodes used.\n"
            "  remedy: Remount with more inodes (mount -o remount,nr_inodes=N /mnt/ci) or remove files.\n");
  EXPECT_EQ(render_diagnosis(json{{"causes", json::array()}}, kNow), "no failures diagnosed\n");
}

json doctor_answer() {
  return json::parse(R"json({"version": 1, "root": "/", "worst": "critical",
    "findings": [
      {"check": "fs_usage", "severity": "critical", "summary": "/mnt/ci: 64 of 64 inodes used (tmpfs)",
       "remedy": "remount with more inodes", "evidence": {"mount_point": "/mnt/ci", "inodes": 64, "ids": [1, 2]}},
      {"check": "epoll", "severity": "warning", "summary": "uid 1000 holds 90% of fs.epoll.max_user_watches",
       "remedy": "raise it", "evidence": {"uid": 1000}},
      {"check": "mount_count", "severity": "info", "summary": "3 mount namespaces", "remedy": "", "evidence": {}}],
    "checks": [{"id": "fs_usage", "status": "findings", "findings": 1, "worst": "critical", "duration_ms": 1},
               {"id": "epoll", "status": "findings", "findings": 1, "worst": "warning", "duration_ms": 1},
               {"id": "ghost_space", "status": "ok", "findings": 0, "worst": "info", "duration_ms": 2,
                "detail": "partial: 3 /proc/PID entries refused"},
               {"id": "ipc_ids", "status": "ok", "findings": 0, "worst": "info", "duration_ms": 0}],
    "scan": {"processes": 100}, "mount_namespaces": 3,
    "sysctls": {"fs.epoll.max_user_watches": 192530, "user.max_mnt_namespaces": 63000},
    "duration_ms": 40})json");
}

TEST(CliDoctor, VerdictFirstNoJsonExactSysctlNames) {
  std::string out = render_doctor(doctor_answer(), Style{80, false});
  EXPECT_EQ(out.substr(0, out.find('\n') + 1),
            "verdict: CRITICAL: 1 critical finding, 1 warning: ENOSPC is imminent or happening; 1 check was "
            "incomplete (see checks)\n");
  EXPECT_TRUE(fits(out.substr(out.find('\n') + 1), 80)) << out;
  EXPECT_EQ(out.find('{'), std::string::npos) << out;
  EXPECT_NE(out.find("critical  fs_usage  /mnt/ci: 64 of 64 inodes used (tmpfs)\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("3 mount namespaces"), std::string::npos) << "info findings only with -v\n" << out;
  EXPECT_NE(out.find("1 informational finding (-v shows them)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("ghost_space"), std::string::npos) << out;
  EXPECT_EQ(out.find("ipc_ids"), std::string::npos) << out;

  std::string verbose = render_doctor(doctor_answer(), Style{0, true});
  EXPECT_EQ(verbose.find('{'), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("inodes=64, mount_point=/mnt/ci"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("  fs.epoll.max_user_watches = 192530\n  user.max_mnt_namespaces = 63000\n"),
            std::string::npos)
      << verbose;
  EXPECT_NE(verbose.find("3 mount namespaces"), std::string::npos) << verbose;
  EXPECT_NE(verbose.find("ipc_ids"), std::string::npos) << verbose;

  json clean = doctor_answer();
  clean["findings"] = json::array({clean["findings"][2]});
  clean["checks"].erase(2);
  EXPECT_EQ(render_doctor(clean).substr(0, render_doctor(clean).find('\n') + 1),
            "verdict: OK: no condition leading to ENOSPC found by 3 checks\n");
  EXPECT_EQ(render_doctor(json{{"version", 1}, {"error", "cannot read /proc"}}),
            "verdict: the doctor could not run: cannot read /proc\n");
}

TEST_F(CliUtc, WatchLinesHaveFixedColumnsAndAnId) {
  std::string header = watch_header();
  json e = make_event(1, kNow, 4321, "a-rather-long-command", "mount", "mount_max");
  e["id"] = "7357189049442136123";
  std::string line = watch_line(e);
  EXPECT_EQ(header.rfind("ID   ", 0), 0u) << header;
  EXPECT_EQ(line.rfind("7357189049442136123  12:00:00  4321", 0), 0u) << line;
  EXPECT_EQ(header.find("PID"), line.find("4321"));
  EXPECT_NE(line.find("mount       mount_max       a-rather-" + kEllipsis + "  ENOSPC"), std::string::npos) << line;
  EXPECT_EQ(display_width(header.substr(0, header.find("PATH"))), display_width(line.substr(0, line.find("/var/lib"))));
  std::string narrow = watch_line(e, Style{80, false});
  EXPECT_TRUE(fits(narrow, 80)) << narrow;
  EXPECT_EQ(narrow.rfind("7357189049442136123  12:00:00  4321     mount       mount_max       a-rather-" + kEllipsis, 0),
            0u)
      << narrow;
}

TEST(CliClient, ErrorMessageAndEscaping) {
  EXPECT_EQ(error_message(HttpAnswer{404, "application/json", R"({"error":"event 9 not found","status":404})"}),
            "event 9 not found");
  EXPECT_EQ(error_message(HttpAnswer{502, "text/html", "<html>"}), "enospcd answered HTTP 502");
  EXPECT_EQ(url_escape("runc:[2:INIT] x&y=z/é"), "runc%3A%5B2%3AINIT%5D%20x%26y%3Dz%2F%C3%A9");
}

TEST(CliClient, MissingSocketIsOneSentence) {
  Client c("/nonexistent-dir-enospcd/enospcd.sock");
  auto r = c.get("/v1/status");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "enospcd is not running (no socket at /nonexistent-dir-enospcd/enospcd.sock)");
}

}  // namespace
}  // namespace enospcd::cli
