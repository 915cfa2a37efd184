// A cause's evidence is typed in the daemon and JSON at the API and in the journal: every kind of detail comes
// back from its JSON as it was, the JSON has the keys docs/api.md names, and a journal line with members of the
// wrong type reads without throwing.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/cause.h"

namespace enospcd {
namespace {

using json = nlohmann::json;

std::vector<std::pair<CauseId, Evidence>> one_of_each() {
  const FsRef ext4{"/srv", "ext4", "/dev/vdb", StatfsNumbers{"ext4", 0xEF53, 4096, 1 << 30, 1 << 30, 0, 0, 0, 100,
                                                               65536, 65536, 0, 100}};
  Ucounts watches{UcountKind::InotifyWatches, {{4026532000u, 1000, 16, 16, false}, {4026531837u, 0, 20, 8192, true}}};
  std::vector<std::pair<CauseId, Evidence>> all = {
      {CauseId::MountMax, {.detail = MountEvidence{4026531840u, 99, 2, 100, {{"tmpfs tmpfs", 97}}}}},
      {CauseId::MountMax, {.detail = MountEvidence{4026531840u, 99, 0, std::nullopt, {}}}},
      {CauseId::TmpfsInodes,
       {.fs = FsRef{.mount_point = "/w", .statfs = StatfsNumbers{.type = "tmpfs"}},
        .detail = TmpfsEvidence{.at_failure = TmpfsAtFailure{"dirfd", 64, 1, 4, 0}, .inodes = 4, .inodes_free = 0},
        .chain = std::vector<std::string>{"shmem_reserve_inode", "shmem_get_inode"},
        .origin = "shmem_reserve_inode"}},
      {CauseId::TmpfsBlocks,
       {.detail = TmpfsEvidence{.bytes_max = 65536, .bytes_used = 65536, .bytes_used_at_failure = true},
        .bytes_requested = 1 << 20}},
      {CauseId::FsBlocks, {.fs = ext4, .bytes_requested = 5u << 20}},
      {CauseId::FsBlocks, {.fs = ext4, .detail = BtrfsEvidence{{1, 2, 3, 4, 5}}}},
      {CauseId::FsBlocks, {.chain = std::vector<std::string>{"ext4_da_write_begin"}, .origin = "ext4_da_write_begin"}},
      {CauseId::FsInodes, {.fs = ext4}},
      {CauseId::Quota, {.fs = ext4, .detail = ProjectQuotaEvidence{{42, 1 << 20, 1 << 20, 3, 0, true},
                                                                  {{42, 1 << 20, 1 << 20, 3, 0, true}}}}},
      {CauseId::Quota, {.fs = FsRef{.mount_point = "/q"}, .chain = std::vector<std::string>{}, .origin = "dquot_add_space"}},
      {CauseId::DirectoryIndex, {.fs = ext4, .detail = DirectoryIndexEvidence{false, "d", std::nullopt}}},
      {CauseId::SysvIpc, {.detail = IpcEvidence{"kernel.shmall", IpcNumbers{4026531839u, 4096, 32000, 256, 32000, 32000,
                                                                             1, 2, 3, 4, UINT64_MAX, 5, 6}}}},
      {CauseId::Mqueue, {.detail = IpcEvidence{"fs.mqueue.queues_max", std::nullopt}}},
      {CauseId::Pty, {.fs = FsRef{.mount_point = "/dev/pts"},
                      .detail = PtyEvidence{4096, 1024, 3, 2, 2, PtyAtFailure{3, 4096, 1024}, "rw,max=2"}}},
      {CauseId::Pty, {.detail = PtyEvidence{}}},
      {CauseId::InotifyWatches, {.detail = UcountEvidence{"user.max_inotify_watches", 4026532000u, 1000, 16, 16, watches}}},
      {CauseId::InotifyWatches, {.detail = InotifyHeldEvidence{8192, 1000, std::nullopt}}},
      {CauseId::FanotifyMarks, {.detail = FanotifyHeldEvidence{std::nullopt, 0, 7}}},
      {CauseId::NamespaceLimit,
       {.detail = UcountEvidence{"user.max_mnt_namespaces", 1, 0, 3, std::nullopt,
                                 Ucounts{UcountKind::MntNs, {{1, 0, std::nullopt, 3, true}}}}}},
      {CauseId::NamespaceLimit, {.detail = NamespaceEvidence{{{"mnt", 3}, {"pid", 7}}, UsernsLimit{1, -1}}}},
      {CauseId::EpollWatches, {.detail = EpollEvidence{std::nullopt, EpollAtFailure{1000, 8, false, 8}}}},
      {CauseId::Bpf, {.detail = BpfEvidence{"BPF_PROG_LOAD", 5}}},
      {CauseId::XattrSpace, {.fs = FsRef{.mount_point = "/x"}, .detail = XattrEvidence{4, 0, true}}},
      {CauseId::Cpuset, {.detail = CpusetEvidence{"tasks", "cpuset", "/sys/fs/cgroup/cpuset/b", "", "0"}}},
      {CauseId::Device, {.detail = DeviceEvidence{"char", "1:7", "full"}}},
      {CauseId::WritebackError, {.fs = FsRef{.mount_point = "/w", .statfs = StatfsNumbers{.type = "xfs"}},
                                 .overlay = OverlayRef{"/merged", "0:52", "xfs"}}},
      {CauseId::Unknown, {.chain = std::vector<std::string>{}}},
  };
  return all;
}

TEST(Evidence, EveryKindComesBackFromItsJson) {
  for (const auto& [id, ev] : one_of_each()) {
    const json j = to_json(ev);
    EXPECT_EQ(evidence_from_json(id, j), ev) << cause_name(id) << ": " << j.dump();
    // And through the whole cause, as the journal keeps it.
    Cause c{id, Confidence::High, "s", "r", ev, 12};
    EXPECT_EQ(cause_from_json(to_json(c)), c) << cause_name(id);
  }
}

TEST(Evidence, JsonHasTheDocumentedKeys) {
  const auto all = one_of_each();
  // Flattened: the filesystem's and the detail's members are at the top level.
  json fs = to_json(all[4].second);
  EXPECT_EQ(fs["mount_point"], "/srv");
  EXPECT_EQ(fs["fstype"], "ext4");
  EXPECT_EQ(fs["statfs"]["inodes_free"], 0);
  EXPECT_EQ(fs["bytes_requested"], 5u << 20);
  EXPECT_FALSE(fs.contains("chain"));
  // Unknown numbers are null where the API says so, left out where it says so.
  json mount = to_json(all[1].second);
  ASSERT_TRUE(mount.contains("mount_max"));
  EXPECT_TRUE(mount["mount_max"].is_null());
  EXPECT_EQ(mount["top_sources"], json::array());
  json tmpfs = to_json(all[3].second);
  EXPECT_FALSE(tmpfs.contains("at_failure"));
  EXPECT_FALSE(tmpfs.contains("inodes"));
  // A count of the kind of inotify watches also shows under the limit's own names.
  json ucount = to_json(all[15].second);
  EXPECT_EQ(ucount["watches"], 16);
  EXPECT_EQ(ucount["max_user_watches"], 16);
  EXPECT_EQ(ucount["ucounts"]["levels"].size(), 2u);
  json ipc = to_json(all[11].second);
  EXPECT_EQ(ipc["ipcns"], 4026531839u);
  EXPECT_EQ(ipc["shm_pages"], UINT64_MAX);
  EXPECT_EQ(ipc["limit"], "kernel.shmall");
  EXPECT_EQ(to_json(all[13].second)["kernel.pty.max"], 4096);
  // An empty chain of a cause no rule explains is still there: it says none was recorded.
  EXPECT_EQ(to_json(all.back().second), (json{{"chain", json::array()}}));
}

// A journal line written by hand, or by a hostile local user: wrong types, numbers out of range, a detail of
// another cause. Nothing throws; what cannot be read is left out.
TEST(Evidence, MembersOfTheWrongTypeAreLeftOut) {
  const json bad = {{"mount_point", 7},
                    {"mntns", "x"},
                    {"mounts", -1},
                    {"pending", 1e300},
                    {"mount_max", json::array()},
                    {"top_sources", {{{"source", 1}, {"count", "many"}}, 3}},
                    {"chain", {"a", 1, nullptr}},
                    {"origin", json::object()},
                    {"overlay", "no"},
                    {"bytes_requested", 18446744073709551615ULL}};
  Evidence e;
  ASSERT_NO_THROW(e = evidence_from_json(CauseId::MountMax, bad));
  EXPECT_FALSE(e.fs);
  const auto* m = std::get_if<MountEvidence>(&e.detail);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->mntns, 0u);
  EXPECT_EQ(m->mounts, 0u);
  EXPECT_EQ(m->pending, 0u);
  EXPECT_FALSE(m->mount_max);
  ASSERT_EQ(m->top_sources.size(), 1u);
  EXPECT_EQ(m->top_sources[0], (MountSourceCount{}));
  EXPECT_EQ(e.chain, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(e.origin);
  EXPECT_FALSE(e.overlay);
  EXPECT_EQ(e.bytes_requested, UINT64_MAX);

  // A uint32 member given a number that does not fit, a signed one given more than int64 holds.
  Evidence ipc = evidence_from_json(CauseId::SysvIpc, {{"limit", "kernel.shmmni"}, {"ipcns", 1ULL << 40},
                                                       {"semaphores", 18446744073709551615ULL}});
  const auto* i = std::get_if<IpcEvidence>(&ipc.detail);
  ASSERT_NE(i, nullptr);
  ASSERT_TRUE(i->numbers);
  EXPECT_EQ(i->numbers->ipcns, 0u);
  EXPECT_EQ(i->numbers->semaphores, 0);

  // Another cause's detail is not read as this one's; an evidence that is not an object is empty.
  EXPECT_TRUE(std::holds_alternative<std::monostate>(
      evidence_from_json(CauseId::Device, {{"mntns", 1}, {"mounts", 2}}).detail));
  EXPECT_EQ(evidence_from_json(CauseId::Unknown, json::array({1, 2})), Evidence{});
  EXPECT_EQ(evidence_from_json(CauseId::Unknown, json("text")), Evidence{});
}

}  // namespace
}  // namespace enospcd
