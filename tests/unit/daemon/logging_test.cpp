// Log lines as journald wants them when systemd connected stderr to the journal: a "<N>" priority prefix and
// no timestamp of their own; and as before when stderr is anything else, even with JOURNAL_STREAM inherited.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include "daemon/logging.h"

namespace enospcd {
namespace {

std::string logged_with_journal_stream(bool matching) {
  ::testing::internal::CaptureStderr();
  struct stat st {};
  EXPECT_EQ(::fstat(STDERR_FILENO, &st), 0);
  std::string js = std::to_string(st.st_dev) + ":" + std::to_string(matching ? st.st_ino : st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", js.c_str(), 1);
  bool journal = stderr_is_journal();
  EXPECT_EQ(journal, matching);
  setup_logging(LogFormat::Text, 0);
  spdlog::info("tracing {}", "started");
  spdlog::warn("journal degraded");
  spdlog::error("cannot attach");
  spdlog::debug("not shown at verbosity 0");
  std::string out = ::testing::internal::GetCapturedStderr();
  ::unsetenv("JOURNAL_STREAM");
  setup_logging(LogFormat::Text, 0);
  return out;
}

TEST(Logging, JournalStreamGetsPriorityPrefixesAndNoTimestamp) {
  EXPECT_EQ(logged_with_journal_stream(true), "<6>tracing started\n<4>journal degraded\n<3>cannot attach\n");
}

TEST(Logging, InheritedJournalStreamOnAnotherStderrKeepsTheUsualLines) {
  std::string out = logged_with_journal_stream(false);
  EXPECT_EQ(out.find("<6>"), std::string::npos) << out;
  EXPECT_NE(out.find(" info tracing started\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" warning journal degraded\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace enospcd
