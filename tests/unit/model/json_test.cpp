// The event's JSON: 64-bit values as strings that survive readers holding numbers as doubles, and journal
// records of the earlier format (numbers) still read.
#include <gtest/gtest.h>

#include "support/has_value.h"
#include "model/event.h"

namespace enospcd {
namespace {

using nlohmann::json;

Event big_event() {
  Event e;
  e.id = 7357189049442136064ULL;  // above 2^53: a double would make it ...136000
  e.time_ns = 1795248383349122226ULL;
  e.ktime_ns = 9007199254740993ULL;  // 2^53 + 1
  e.pid = 48377;
  e.tid = 48378;
  e.uid = 1000;
  e.comm = "touch";
  e.syscall = "openat";
  e.errno_name = "ENOSPC";
  e.err = 28;
  e.ret = -28;
  e.cgroup_id = 4242;
  e.mntns = 4026532000u;
  e.has_mntns = true;
  e.mnt_count = 14;
  e.args_valid = true;
  e.args = {0xffffff9cULL, 0x7ffd1234abcdULL, 0x241, 0x1b6, 0, 0xffffffffffffffffULL};
  FileInfo f;
  f.ino = 18446744073709551557ULL;
  f.fstype = "overlay";
  e.file = f;
  return e;
}

TEST(EventJson, WideValuesAreStrings) {
  json j = to_json(big_event());
  EXPECT_EQ(j["id"], "7357189049442136064");
  EXPECT_EQ(j["time_ns"], "1795248383349122226");
  EXPECT_EQ(j["ktime_ns"], "9007199254740993");
  EXPECT_EQ(j["time"], "2026-11-21T08:06:23.349122226Z");
  EXPECT_EQ(j["file"]["ino"], "18446744073709551557");
  EXPECT_EQ(j["args"], json({"0xffffff9c", "0x7ffd1234abcd", "0x241", "0x1b6", "0x0", "0xffffffffffffffff"}));
  // Small values stay numbers.
  EXPECT_EQ(j["pid"], 48377);
  EXPECT_EQ(j["mnt_count"], 14);
  EXPECT_EQ(j["cgroup_id"], 4242);
  EXPECT_EQ(j["ret"], -28);
}

TEST(EventJson, RoundTrip) {
  Event e = big_event();
  Event back = event_from_json(to_json(e));
  EXPECT_EQ(back.id, e.id);
  EXPECT_EQ(back.time_ns, e.time_ns);
  EXPECT_EQ(back.ktime_ns, e.ktime_ns);
  EXPECT_EQ(back.args, e.args);
  ASSERT_HAS_VALUE(back.file);
  ASSERT_HAS_VALUE(e.file);
  EXPECT_EQ(back.file->ino, e.file->ino);
  EXPECT_EQ(to_json(back), to_json(e));
}

TEST(EventJson, EarlierFormatWithNumbersStillReads) {
  // A journal line as enospcd wrote it before 64-bit values became strings.
  json old = json::parse(R"({"id":7357189049442136064,"time":"2026-11-21T08:06:23.349122Z",
    "time_ns":1795248383349122226,"ktime_ns":123456789,"pid":48377,"tid":48377,"ppid":1,"comm":"touch","uid":0,
    "gid":0,"syscall":"openat","syscall_nr":257,"errno":"ENOSPC","ret":-28,"path":"/mnt/x","cgroup_id":4242,
    "cgroup":"","mntns":4026531841,"args":[4294967196,140724908096461,577,438,0,0],
    "file":{"dev":"0:45","fstype":"tmpfs","name":"x","magic":16914836,"ino":123},"chain":[],"kstack":[],
    "container":null,"cause":{"id":"tmpfs_inodes"}})");
  Event e = event_from_json(old);
  EXPECT_EQ(e.id, 7357189049442136064ULL);
  EXPECT_EQ(e.time_ns, 1795248383349122226ULL);
  EXPECT_EQ(e.ktime_ns, 123456789u);
  EXPECT_EQ(e.args[1], 140724908096461ULL);
  ASSERT_HAS_VALUE(e.file);
  EXPECT_EQ(e.file->ino, 123u);
  EXPECT_EQ(to_json(e)["id"], "7357189049442136064");
}

TEST(EventJson, U64Reader) {
  EXPECT_EQ(json_u64(json("18446744073709551615")), 18446744073709551615ULL);
  EXPECT_EQ(json_u64(json("0xffffffffffffffff")), 18446744073709551615ULL);
  EXPECT_EQ(json_u64(json(42)), 42u);
  EXPECT_FALSE(json_u64(json("18446744073709551616")));
  EXPECT_FALSE(json_u64(json("0x10000000000000000")));
  EXPECT_FALSE(json_u64(json("12a")));
  EXPECT_FALSE(json_u64(json("")));
  EXPECT_FALSE(json_u64(json(-1)));
  EXPECT_FALSE(json_u64(json(1.5)));
  EXPECT_FALSE(json_u64(json(nullptr)));
}

// How long after the failure the host was read is typed in the cause and shown among its evidence; read back,
// it is typed again and the evidence holds only what the rule put there.
TEST(CauseJson, ReadAfterIsShownAsEvidenceAndReadBackTyped) {
  Cause c{CauseId::FsBlocks, Confidence::Medium, "full (read after the failure).", "free space",
          Evidence{.fs = FsRef{.mount_point = "/srv"}}, 37};
  json j = to_json(c);
  EXPECT_EQ(j["evidence"], (json{{"mount_point", "/srv"}, {"read_after_ms", 37}}));
  auto back = cause_from_json(j);
  ASSERT_HAS_VALUE(back);
  EXPECT_EQ(*back, c);
  c.read_after_ms.reset();
  EXPECT_FALSE(to_json(c)["evidence"].contains("read_after_ms"));
  EXPECT_EQ(cause_from_json(to_json(c)), c);
}

}  // namespace
}  // namespace enospcd
