#include <gtest/gtest.h>

#include "store/event_store.h"
#include "support/has_value.h"

namespace enospcd {
namespace {

Event ev(uint64_t t, uint32_t pid, const std::string& comm, const std::string& syscall = "openat") {
  Event e;
  e.time_ns = t;
  e.pid = pid;
  e.comm = comm;
  e.syscall = syscall;
  return e;
}

TEST(IdAllocator, UniqueIncreasingAndTimeDerived) {
  IdAllocator a;
  uint64_t t = 1'700'000'000'000'000'000ull;
  uint64_t id1 = a.next(t), id2 = a.next(t), id3 = a.next(t - 5'000'000);  // clock stepped back
  EXPECT_EQ(id1, (t / 1000) << 12);
  EXPECT_EQ(id2, id1 + 1);
  EXPECT_EQ(id3, id2 + 1);
  IdAllocator restarted;
  restarted.observe(id3);
  EXPECT_GT(restarted.next(t), id3);
}

// The store keeps causes packed; what comes out is the event that went in, and the cause filter still works.
TEST(EventStore, CausesComeBackWhole) {
  EventStore s(10);
  Event a = ev(1000, 1, "touch");
  a.cause = Cause{.id = CauseId::TmpfsInodes,
                   .confidence = Confidence::Medium,
                   .summary = "openat(2) of /t/x by touch (pid 1, container -) failed: ...",
                   .remedy = "Remount.",
                   .evidence = {.fs = FsRef{.mount_point = "/t",
                                            .statfs = StatfsNumbers{.type = "tmpfs", .total_bytes = UINT64_MAX}},
                                .detail = TmpfsEvidence{.at_failure = TmpfsAtFailure{"parent", 0, 0, 16, 0},
                                                        .inodes = 16,
                                                        .inodes_free = 0},
                                .chain = std::vector<std::string>{"shmem_reserve_inode", "shmem_get_inode"},
                                .origin = "shmem_reserve_inode"}};
  Event b = ev(2000, 2, "dd", "write");  // no cause
  uint64_t ida = s.add(a), idb = s.add(b);
  a.id = ida;
  b.id = idb;
  auto got_a = s.get(ida), got_b = s.get(idb);
  ASSERT_HAS_VALUE(got_a);
  ASSERT_HAS_VALUE(got_b);
  EXPECT_EQ(to_json(*got_a), to_json(a));
  EXPECT_EQ(to_json(*got_b), to_json(b));
  EXPECT_FALSE(got_b->cause.has_value());
  EventFilter f;
  f.cause = "tmpfs_inodes";
  auto v = s.query(f);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].cause, a.cause);
  f.cause = "fs_blocks";
  EXPECT_TRUE(s.query(f).empty());
}

TEST(EventStore, NewestFirstFiltersAndCapacity) {
  EventStore s(3);
  s.add(ev(1000, 1, "a"));
  s.add(ev(2000, 2, "b"));
  s.add(ev(3000, 1, "a", "write"));
  s.add(ev(4000, 3, "c"));
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(s.evicted(), 1u);
  EventFilter all;
  auto v = s.query(all);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].comm, "c");
  EXPECT_EQ(v[2].comm, "b");
  EventFilter f;
  f.pid = 1;
  EXPECT_EQ(s.query(f).size(), 1u);
  f = {};
  f.syscall = "openat";
  EXPECT_EQ(s.query(f).size(), 2u);
  f = {};
  f.since_ns = 2500;
  EXPECT_EQ(s.query(f).size(), 2u);
  f = {};
  f.limit = 1;
  EXPECT_EQ(s.query(f).size(), 1u);
}

TEST(EventStore, GetByIdAndSubscribers) {
  EventStore s(10);
  std::vector<uint64_t> seen;
  uint64_t token = s.subscribe([&](const Event& e) { seen.push_back(e.id); });
  uint64_t a = s.add(ev(1000, 1, "a"));
  uint64_t b = s.add(ev(2000, 2, "b"));
  s.unsubscribe(token);
  s.add(ev(3000, 3, "c"));
  EXPECT_EQ(seen, (std::vector<uint64_t>{a, b}));
  auto got = s.get(b);
  ASSERT_HAS_VALUE(got);
  EXPECT_EQ(got->comm, "b");
  EXPECT_FALSE(s.get(12345));
}

TEST(EventFilter, ContainerByIdPrefixOrNameAndCause) {
  Event e = ev(1, 1, "x");
  e.container = ContainerRef{.id = "0123456789abcdef0123", .runtime = "podman", .name = "web"};
  e.cause = Cause{.id = CauseId::TmpfsInodes};
  EventFilter f;
  f.container = "0123456789ab";
  EXPECT_TRUE(f.matches(e));
  f.container = "web";
  EXPECT_TRUE(f.matches(e));
  f.container = "0123";
  EXPECT_TRUE(f.matches(e));
  f.container = "012";  // too short to be a prefix
  EXPECT_FALSE(f.matches(e));
  f = {};
  f.cause = "tmpfs_inodes";
  EXPECT_TRUE(f.matches(e));
  f.cause = "mount_max";
  EXPECT_FALSE(f.matches(e));
}

}  // namespace
}  // namespace enospcd
