// The store's packed form of an event gives back the whole event, with its text pooled or inline.
#include <gtest/gtest.h>

#include <stdexcept>

#include "store/packed.h"
#include "support/full_event.h"

namespace enospcd {
namespace {

TEST(PackedEvent, EveryMemberComesBack) {
  Event e = testing::full_event();
  StringPool pool;
  std::string bytes = pack_event(e, pool);
  Event back = unpack_event(bytes, pool);
  EXPECT_EQ(to_json(back), to_json(e));
  // Members the JSON leaves out, or shows differently.
  EXPECT_EQ(back.ktime_ns, e.ktime_ns);
  EXPECT_EQ(back.err, e.err);
  EXPECT_EQ(back.cgroup_name_truncated, e.cgroup_name_truncated);
  ASSERT_TRUE(back.ucounts && back.ucounts->levels.size() == 2);
  EXPECT_FALSE(back.ucounts->levels[1].count.has_value());
  EXPECT_EQ(back.ucounts->levels[0].count, 16);
  EXPECT_EQ(back.ipc->sem_used, -1);
  EXPECT_EQ(back.userns_max_mnt, -5);
  EXPECT_EQ(back.chain[0].ktime_ns, 100u);
  EXPECT_EQ(back.container, e.container);
  EXPECT_EQ(back.cause, e.cause);
  // What only symbolization needs is not kept.
  EXPECT_TRUE(back.kstack_addrs.empty());
}

TEST(PackedEvent, AnEmptyEventComesBackEmpty) {
  StringPool pool;
  Event back = unpack_event(pack_event(Event{}, pool), pool);
  EXPECT_EQ(to_json(back), to_json(Event{}));
  EXPECT_FALSE(back.cause.has_value());
  EXPECT_FALSE(back.container.has_value());
}

TEST(PackedEvent, RepeatedTextIsKeptOnceAndMakesEventsSmall) {
  StringPool pool;
  Event e = testing::full_event();
  std::string first = pack_event(e, pool);
  std::size_t pooled = pool.size();
  std::string second = pack_event(e, pool);
  EXPECT_EQ(pool.size(), pooled);  // nothing new to pool
  EXPECT_EQ(first, second);
  // Varints and pool indices: well under the ~2 KB an Event struct with its strings takes.
  EXPECT_LT(second.size(), 400u) << second.size();
}

TEST(PackedEvent, AFullPoolKeepsTextInlineAndSaysSo) {
  StringPool pool(300);  // room for a couple of strings only
  Event e = testing::full_event();
  std::string bytes = pack_event(e, pool);
  EXPECT_TRUE(pool.full());
  EXPECT_LE(pool.bytes(), 300u);
  EXPECT_EQ(to_json(unpack_event(bytes, pool)), to_json(e));
}

TEST(PackedEvent, BytesItDidNotWriteAreRefused) {
  StringPool pool;
  std::string bytes = pack_event(testing::full_event(), pool);
  EXPECT_THROW(unpack_event(bytes.substr(0, bytes.size() / 2), pool), std::runtime_error);
  EXPECT_THROW(unpack_event(bytes + "x", pool), std::runtime_error);
  StringPool other;  // its indices point nowhere
  EXPECT_THROW(unpack_event(bytes, other), std::runtime_error);
  EXPECT_THROW(unpack_event(std::string(8, '\xff'), pool), std::runtime_error);
}

}  // namespace
}  // namespace enospcd
