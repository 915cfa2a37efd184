// The doctor run as root never tells root to run as root: what it could not read is named with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "doctor/doctor.h"
#include "support/live.h"

using namespace enospcd::context;
using namespace enospcd::doctor;

TEST(DoctorAsRoot, UnreadableEntriesAreExplainedNotBlamedOnTheUser) {
  ENOSPCD_REQUIRE_ROOT();
  DoctorOptions opts;
  auto rep = run_doctor(opts);
  ASSERT_FALSE(rep.checks.empty());
  for (const auto& c : rep.checks) {
    EXPECT_EQ(c.detail.find("run as root"), std::string::npos) << c.id << ": " << c.detail;
    if (c.detail.find("partial:") != std::string::npos) {
      EXPECT_NE(c.detail.find("refused with EACCES although running as root"), std::string::npos) << c.detail;
    }
  }
}
