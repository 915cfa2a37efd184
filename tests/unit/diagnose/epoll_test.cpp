// epoll_ctl refused by fs.epoll.max_user_watches (ep_insert()): the watches of the user who made the epoll
// instance, read in BPF at the failure, and the limit then where the kernel lists its data symbols, else the
// sysctl read after the failure, said to be.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

Event epoll_add(std::optional<EpollWatches> w) {
  Event e = fakes::failing("epoll_ctl", "python3", 77);
  e.epoll = w;
  return e;
}

TEST(EpollRule, CountAndLimitAtTheFailure) {
  FakeFacts facts;
  facts.limits.epoll_max_user_watches = 1677702;  // put back since
  Cause c = diagnose(epoll_add(EpollWatches{0, 8, true, 8}), facts);
  EXPECT_EQ(c.id, CauseId::EpollWatches);
  EXPECT_EQ(c.summary,
            "epoll_ctl(2) by python3 (pid 77, container -) failed: fs.epoll.max_user_watches was 8 and uid 0 held 8 "
            "epoll watches at the failure.");
  EXPECT_EQ(evidence_json(c)["at_failure"]["watches"], 8);
  EXPECT_EQ(evidence_json(c)["at_failure"]["max_user_watches"], 8);
  EXPECT_FALSE(c.read_after_ms.has_value());
}

// The count at the failure, the limit read later: said to be read later, and when it is now above the count the
// summary says the limit was lower then.
TEST(EpollRule, CountAtTheFailureLimitReadLater) {
  FakeFacts facts;
  facts.limits.epoll_max_user_watches = 8;
  EXPECT_EQ(diagnose(epoll_add(EpollWatches{1000, 8, true, std::nullopt}), facts).summary,
            "epoll_ctl(2) by python3 (pid 77, container -) failed: fs.epoll.max_user_watches is 8 (read after the "
            "failure), and uid 1000 held 8 epoll watches at the failure.");
  facts.limits.epoll_max_user_watches = 1677702;
  EXPECT_EQ(diagnose(epoll_add(EpollWatches{1000, 8, true, std::nullopt}), facts).summary,
            "epoll_ctl(2) by python3 (pid 77, container -) failed: fs.epoll.max_user_watches is 1 677 702 (read after "
            "the failure), and uid 1000 held 8 epoll watches at the failure: the limit was lower then.");
  // A count that may be short does not say the limit moved.
  EXPECT_EQ(diagnose(epoll_add(EpollWatches{1000, 5, false, std::nullopt}), facts).summary,
            "epoll_ctl(2) by python3 (pid 77, container -) failed: fs.epoll.max_user_watches is 1 677 702 (read after "
            "the failure), and uid 1000 held 5 epoll watches at the failure (the count folded so far, short by up to "
            "a batch per CPU).");
}

TEST(EpollRule, NothingFromBpf) {
  FakeFacts facts;
  facts.limits.epoll_max_user_watches = 8;
  EXPECT_EQ(diagnose(epoll_add(std::nullopt), facts).summary,
            "epoll_ctl(2) by python3 (pid 77, container -) failed: fs.epoll.max_user_watches is 8 (read after the "
            "failure).");
}

}  // namespace
}  // namespace enospcd::diagnose
