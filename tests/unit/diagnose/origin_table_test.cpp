// The origin table is the one place that says which kernel functions are probed and which cause each points
// at: every cause it names is one the diagnosis knows, no function is listed twice, and a chain whose innermost
// link is one of the functions added for inlined callees decides its cause.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "diagnose/diagnose.h"
#include "model/origins.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

TEST(OriginTable, CausesAreKnownAndFunctionsUnique) {
  std::set<std::string_view> seen;
  for (const Origin& o : origin_table()) {
    EXPECT_TRUE(seen.insert(o.func).second) << o.func << " listed twice";
    EXPECT_FALSE(o.subsystem.empty()) << o.func;
    if (!o.cause.empty()) {
      EXPECT_TRUE(cause_from_name(o.cause).has_value()) << o.func << ": " << o.cause;
    }
  }
  ASSERT_NE(find_origin("do_epoll_ctl"), nullptr);
  EXPECT_EQ(find_origin("do_epoll_ctl")->cause, "epoll_watches");
  ASSERT_NE(find_origin("ovl_write_iter"), nullptr);
  EXPECT_EQ(find_origin("ovl_write_iter")->cause, "");  // a layer: it names where the call went, not what refused
  EXPECT_EQ(find_origin("vfs_write"), nullptr);
}

// inotify_new_watch() is inlined into inotify_update_watch() on Debian's kernels: the caller's link decides.
TEST(OriginTable, InlinedCalleeIsCoveredByItsCaller) {
  fakes::FakeFacts facts;
  Event e;
  e.syscall = "inotify_add_watch";
  e.errno_name = "ENOSPC";
  e.ret = -28;
  e.chain = {{"inotify_update_watch", -28, 1, 1}};
  Cause c = diagnose(e, facts);
  EXPECT_EQ(c.id, CauseId::InotifyWatches);
  EXPECT_EQ(evidence_json(c).value("origin", ""), "inotify_update_watch");

  // A layer alone decides nothing: the event is explained from its syscall and what it knows.
  e.syscall = "write";
  e.chain = {{"ovl_write_iter", -28, 1, 1}};
  c = diagnose(e, facts);
  EXPECT_EQ(evidence_json(c).value("origin", ""), "");
}

}  // namespace
}  // namespace enospcd::diagnose
