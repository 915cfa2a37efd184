// Ring-buffer records to events: the decoder bounds everything the kernel wrote.
#include <gtest/gtest.h>

#include <cstring>

#include "common/names.h"
#include "model/event.h"
#include "support/has_value.h"

namespace enospcd {
namespace {

enospcd_event raw_event() {
  enospcd_event r{};
  r.hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
  r.hdr.size = sizeof(r);
  r.hdr.ktime_ns = 5'000'000'000;
  r.pid = 42;
  r.tid = 43;
  r.ppid = 1;
  r.uid = 1000;
  if (auto nr = syscall_number("openat"))
    r.syscall_nr = *nr;
  else
    ADD_FAILURE() << "no syscall named openat";
  r.ret = -28;
  r.err = 28;
  r.cgroup_id = 7;
  r.flags = ENOSPCD_EF_ARGS_VALID | ENOSPCD_EF_HAS_MNTNS;
  r.mntns_inum = 4026531840u;
  r.mnt_count = 31;
  std::strcpy(r.comm, "touch");
  std::strcpy(r.path, "/tmp/t/f16");
  return r;
}

TEST(Decode, WellFormedRecord) {
  auto r = raw_event();
  r.chain_len = 2;
  r.chain[0] = {-28, 1, 1, 0};
  r.chain[1] = {-28, 2, 0, 0};
  auto e = decode_event(&r, sizeof(r), 1'000'000'000, {"path_mount", "count_mounts"});
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->pid, 42u);
  EXPECT_EQ(e->comm, "touch");
  EXPECT_EQ(e->syscall, "openat");
  EXPECT_EQ(e->errno_name, "ENOSPC");
  EXPECT_EQ(e->time_ns, 6'000'000'000u);
  EXPECT_EQ(e->path, "/tmp/t/f16");
  EXPECT_TRUE(e->has_mntns);
  EXPECT_EQ(e->mnt_count, 31u);
  ASSERT_EQ(e->chain.size(), 2u);
  EXPECT_EQ(e->chain[0].func, "count_mounts");
  EXPECT_EQ(e->chain[1].func, "path_mount");
  EXPECT_FALSE(e->file);
}

TEST(Decode, RejectsMalformed) {
  auto r = raw_event();
  EXPECT_FALSE(decode_event(&r, sizeof(r) - 1, 0, {}));
  r.hdr.kind = ENOSPCD_KIND_INVALID;
  EXPECT_FALSE(decode_event(&r, sizeof(r), 0, {}));
  r = raw_event();
  r.hdr.size = 12;
  EXPECT_FALSE(decode_event(&r, sizeof(r), 0, {}));
}

TEST(Decode, UnterminatedStringsAndOversizedCountsAreBounded) {
  auto r = raw_event();
  std::memset(r.comm, 'x', sizeof(r.comm));
  std::memset(r.path, 'p', sizeof(r.path));
  r.chain_len = 999;
  r.stack_len = 999;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->comm.size(), sizeof(r.comm));
  EXPECT_EQ(e->path.size(), sizeof(r.path));
  EXPECT_EQ(e->chain.size(), static_cast<size_t>(ENOSPCD_CHAIN_MAX));
  EXPECT_EQ(e->chain[0].func, "origin_0");
}

// ext4 retrying its allocation after a journal commit: each link counts its returns, the links dropped in the
// middle of a full chain are told, and the outer stack is kept only for a chain of more than one link.
TEST(Decode, RetriedLinksDroppedLinksAndOuterStack) {
  auto r = raw_event();
  r.chain_len = 2;
  r.chain[0] = {-28, 10, 0, 3};  // ext4_claim_free_clusters, returned 4 times
  r.chain[1] = {-28, 11, 1, 0};  // ext4_da_reserve_space, once
  r.chain_dropped = 5;           // not a full chain: nothing can have been dropped
  r.outer_stack_len = 2;
  r.outer_stack[0] = 0xffffffff81000010;
  r.outer_stack[1] = 0xffffffff81000020;
  auto e = decode_event(&r, sizeof(r), 0, {"ext4_claim_free_clusters", "ext4_da_reserve_space"});
  ASSERT_HAS_VALUE(e);
  ASSERT_EQ(e->chain.size(), 2u);
  EXPECT_EQ(e->chain[0].returns, 4u);
  EXPECT_EQ(e->chain[1].returns, 1u);
  EXPECT_EQ(e->chain_dropped, 0u);
  EXPECT_EQ(e->outer_stack_addrs, (std::vector<uint64_t>{0xffffffff81000010, 0xffffffff81000020}));

  r.chain_len = ENOSPCD_CHAIN_MAX;
  r.chain[0].repeats = UINT32_MAX;  // saturates instead of wrapping to 0 returns
  r.outer_stack_len = 999;
  e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  EXPECT_EQ(e->chain_dropped, 5u);
  EXPECT_EQ(e->chain[0].returns, UINT32_MAX);
  EXPECT_EQ(e->outer_stack_addrs.size(), 2u);  // bounded by the array; zero addresses skipped

  r.chain_len = 1;
  e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  EXPECT_TRUE(e->outer_stack_addrs.empty());
  auto j = to_json(*e);
  EXPECT_EQ(j["chain"][0]["returns"], UINT32_MAX);
}

// The refusing per-user-namespace count: levels bounded by the array, an unknown kind dropped, an unreadable
// count kept as unknown, and the JSON form read back as written; malformed JSON forms are refused.
TEST(Decode, UcountLevels) {
  auto r = raw_event();
  r.ucount_kind = ENOSPCD_UC_INOTIFY_WATCHES;
  r.ucount_levels = 99;
  r.ucount[0] = {4026532178u, 0, 16, 16, 0, 0};
  r.ucount[1] = {4026531837u, 0, 0, 192530, ENOSPCD_UCL_INITIAL | ENOSPCD_UCL_NO_COUNT, 0};
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->ucounts);
  EXPECT_EQ(e->ucounts->kind, UcountKind::InotifyWatches);
  ASSERT_EQ(e->ucounts->levels.size(), static_cast<size_t>(ENOSPCD_UCOUNT_LEVELS));
  EXPECT_EQ(e->ucounts->levels[0].count, 16);
  EXPECT_FALSE(e->ucounts->levels[1].count.has_value());
  EXPECT_TRUE(e->ucounts->levels[1].initial);
  EXPECT_EQ(e->ucounts->refusing(), 0u);

  nlohmann::json j = to_json(*e);
  EXPECT_EQ(j["ucounts"]["kind"], "inotify_watches");
  EXPECT_EQ(j["ucounts"]["levels"][0]["userns"], 4026532178u);
  EXPECT_TRUE(j["ucounts"]["levels"][1]["count"].is_null());
  Event back = event_from_json(j);
  ASSERT_HAS_VALUE(back.ucounts);
  EXPECT_EQ(to_json(*back.ucounts), j["ucounts"]);

  for (const char* bad : {R"({"kind":"nope","levels":[]})",
                          R"({"kind":"inotify_watches","levels":[{"userns":-1,"uid":0,"max":1}]})",
                          R"({"kind":"inotify_watches","levels":[{"userns":"1","uid":0,"max":1}]})",
                          R"({"kind":3})", R"([1,2])"})
    EXPECT_FALSE(ucounts_from_json(nlohmann::json::parse(bad)).has_value()) << bad;

  r.ucount_kind = 77;
  e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  EXPECT_FALSE(e->ucounts.has_value());
}

TEST(EventJson, FieldNamesAndRoundTrip) {
  auto r = raw_event();
  r.flags |= ENOSPCD_EF_HAS_FILE;
  std::strcpy(r.file.fstype, "tmpfs");
  r.file.dev = (0u << 20) | 52;
  r.file.shmem_max_inodes = 16;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  e->id = 99;
  auto j = to_json(*e);
  for (const char* k : {"id", "time", "pid", "tid", "comm", "uid", "syscall", "errno", "ret", "path", "cgroup_id",
                        "mntns", "chain", "kstack", "container", "cause"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["errno"], "ENOSPC");
  EXPECT_EQ(j["file"]["fstype"], "tmpfs");
  EXPECT_EQ(j["file"]["dev"], "0:52");
  EXPECT_EQ(j["chain_outer"], nlohmann::json::array());
  EXPECT_FALSE(j.contains("chain_dropped"));
  Event back = event_from_json(j);
  EXPECT_EQ(to_json(back), j);

  e->chain = {{"ext4_claim_free_clusters", -28, 5, 4}, {"ovl_write_iter", -28, 6, 1}};
  e->chain_dropped = 2;
  e->chain_outer = {"vfs_write+0x1c5", "ksys_write+0x6f"};
  e->chain_outer_truncated = "cut";
  j = to_json(*e);
  EXPECT_EQ(j["chain"][0], (nlohmann::json{{"func", "ext4_claim_free_clusters"}, {"ret", -28}, {"returns", 4}}));
  EXPECT_EQ(j["chain_dropped"], 2);
  EXPECT_EQ(j["chain_outer"][1], "ksys_write+0x6f");
  EXPECT_EQ(to_json(event_from_json(j)), j);
}

// An overlay file's upper layer: decoded only when its flag is set, with the summed tmpfs count marked exact, and
// kept through JSON.
TEST(Decode, OverlayUpperLayer) {
  auto r = raw_event();
  r.flags |= ENOSPCD_EF_HAS_FILE;
  std::strcpy(r.file.fstype, "overlay");
  r.file.magic = 0x794c7630;
  std::strcpy(r.upper.fstype, "tmpfs");
  r.upper.magic = 0x01021994;
  r.upper.dev = 61;
  r.upper.shmem_max_blocks = 64;
  r.upper.shmem_used_blocks = 64;
  r.upper.flags = ENOSPCD_FI_USED_SUMMED;
  auto without = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(without);
  EXPECT_FALSE(without->upper);
  r.flags |= ENOSPCD_EF_HAS_UPPER;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->upper);
  ASSERT_HAS_VALUE(e->file);
  EXPECT_EQ(e->upper->fstype, "tmpfs");
  EXPECT_EQ(e->upper->shmem_used_blocks, 64u);
  EXPECT_TRUE(e->upper->shmem_used_exact);
  EXPECT_FALSE(e->file->shmem_used_exact);
  auto j = to_json(*e);
  EXPECT_EQ(j["upper"]["dev"], "0:61");
  EXPECT_EQ(j["upper"]["tmpfs"]["used_blocks_exact"], true);
  EXPECT_EQ(to_json(event_from_json(j)), j);
}

// An XFS file's project quota as BPF read it: decoded only when its flag is set (the reservation is zero
// otherwise), its 64-bit counts kept exact through JSON as strings.
TEST(Decode, XfsProjectQuota) {
  auto r = raw_event();
  r.flags |= ENOSPCD_EF_HAS_FILE;
  std::strcpy(r.file.fstype, "xfs");
  r.file.magic = 0x58465342;
  r.project_quota = {42, 4096, 256, 256, 9007199254740993ULL, 0};
  auto without = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(without);
  EXPECT_FALSE(without->project_quota);
  r.flags |= ENOSPCD_EF_HAS_PRJQUOTA;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->project_quota);
  EXPECT_EQ(e->project_quota->id, 42u);
  EXPECT_EQ(e->project_quota->blocksize, 4096u);
  EXPECT_EQ(e->project_quota->blocks_reserved, 256u);
  EXPECT_EQ(e->project_quota->blocks_hard, 256u);
  EXPECT_EQ(e->project_quota->inodes_reserved, 9007199254740993ULL);
  EXPECT_EQ(e->project_quota->inodes_hard, 0u);
  auto j = to_json(*e);
  EXPECT_EQ(j["project_quota"]["project"], 42);
  EXPECT_EQ(j["project_quota"]["inodes_reserved"], "9007199254740993");
  EXPECT_EQ(to_json(event_from_json(j)), j);
}

// A user's epoll watches: decoded only with their flag, the limit only with its own, kept through JSON.
TEST(Decode, EpollWatches) {
  auto r = raw_event();
  r.epoll_watches = 8;
  r.epoll_max = 8;
  r.epoll_uid = 1000;
  r.epoll_flags = ENOSPCD_EPF_SUMMED;
  EXPECT_FALSE(decode_event(&r, sizeof(r), 0, {})->epoll);
  r.flags |= ENOSPCD_EF_HAS_EPOLL;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->epoll);
  EXPECT_EQ(e->epoll->uid, 1000u);
  EXPECT_EQ(e->epoll->watches, 8);
  EXPECT_TRUE(e->epoll->exact);
  EXPECT_FALSE(e->epoll->max);  // its flag is not set
  auto j = to_json(*e);
  EXPECT_TRUE(j["epoll"]["max_user_watches"].is_null());
  EXPECT_EQ(to_json(event_from_json(j)), j);
  r.epoll_flags |= ENOSPCD_EPF_MAX;
  e = decode_event(&r, sizeof(r), 0, {});
  EXPECT_EQ(e->epoll->max, 8);
  j = to_json(*e);
  EXPECT_EQ(j["epoll"]["max_user_watches"], 8);
  EXPECT_EQ(to_json(event_from_json(j)), j);
  // A limit beyond 2^53 reads back from its string form too.
  j["epoll"]["max_user_watches"] = "9007199254740993";
  EXPECT_EQ(event_from_json(j).epoll->max, 9007199254740993LL);
}

// The host's pty numbers: decoded only when BPF read them (their flag), kept through JSON.
TEST(Decode, PtyCounts) {
  auto r = raw_event();
  r.pty_nr = 16;
  r.pty_max = 16;
  r.pty_reserve = 1024;
  auto without = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(without);
  EXPECT_FALSE(without->pty);
  EXPECT_FALSE(to_json(*without).contains("pty"));
  r.flags |= ENOSPCD_EF_HAS_PTY;
  auto e = decode_event(&r, sizeof(r), 0, {});
  ASSERT_HAS_VALUE(e);
  ASSERT_HAS_VALUE(e->pty);
  EXPECT_EQ(e->pty->nr, 16u);
  EXPECT_EQ(e->pty->max, 16u);
  EXPECT_EQ(e->pty->reserve, 1024u);
  auto j = to_json(*e);
  EXPECT_EQ(j["pty"], (nlohmann::json{{"nr", 16}, {"max", 16}, {"reserve", 1024}}));
  EXPECT_EQ(to_json(event_from_json(j)), j);
}

}  // namespace
}  // namespace enospcd
