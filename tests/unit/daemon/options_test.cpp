#include <gtest/gtest.h>

#include <vector>

#include "daemon/options.h"
#include "support/has_value.h"

namespace enospcd {
namespace {

ParseOutcome parse(std::vector<const char*> args) {
  args.insert(args.begin(), "enospcd");
  return parse_daemon_options(static_cast<int>(args.size()), args.data());
}

TEST(Options, Defaults) {
  auto r = parse({});
  ASSERT_HAS_VALUE(r.options);
  EXPECT_FALSE(r.options->once);
  EXPECT_EQ(r.options->errnos, std::vector<int>{28});
  EXPECT_EQ(r.options->gate_mode, GateMode::Auto);
}

TEST(Options, OnceDurationErrnoGateOutput) {
  auto r = parse({"--once", "--duration", "5s", "--errno", "ENOSPC,EDQUOT", "--gate", "raw_tp", "-o", "json"});
  ASSERT_HAS_VALUE(r.options) << r.message;
  EXPECT_TRUE(r.options->once);
  EXPECT_EQ(r.options->duration.count(), 5'000'000'000);
  EXPECT_EQ(r.options->errnos, (std::vector<int>{28, 122}));
  EXPECT_EQ(r.options->gate_mode, GateMode::RawTp);
  EXPECT_EQ(r.options->output, OutputFormat::Json);
}

TEST(Options, TargetedModeAndItsCheck) {
  auto d = parse({});
  ASSERT_HAS_VALUE(d.options);
  EXPECT_TRUE(d.options->targeted_edits.empty());
  EXPECT_EQ(d.options->targeted_check_every, std::chrono::seconds(60));
  EXPECT_EQ(d.options->targeted_check_for, std::chrono::seconds(2));
  auto r = parse({"--gate", "targeted", "--targeted-syscalls=+fcntl, -close,getppid", "--targeted-check-every", "0",
                  "--targeted-check-for", "500ms"});
  ASSERT_HAS_VALUE(r.options) << r.message;
  EXPECT_EQ(r.options->gate_mode, GateMode::Targeted);
  EXPECT_EQ(r.options->targeted_edits, (std::vector<std::string>{"+fcntl", "-close", "getppid"}));
  EXPECT_EQ(r.options->targeted_check_every.count(), 0);
  EXPECT_EQ(r.options->targeted_check_for, std::chrono::milliseconds(500));
  for (auto args : {std::vector<const char*>{"--targeted-syscalls=+frobnicate"},
                    std::vector<const char*>{"--targeted-check-for", "0"},
                    std::vector<const char*>{"--targeted-check-every", "2s", "--targeted-check-for", "2s"},
                    std::vector<const char*>{"--targeted-check-every", "often"}}) {
    auto bad = parse(args);
    EXPECT_FALSE(bad.options) << args[0];
    EXPECT_EQ(bad.exit_code, 2) << args[0];
    EXPECT_NE(bad.message.find("--targeted"), std::string::npos) << bad.message;
  }
}

TEST(Options, ClearErrors) {
  struct Case {
    std::vector<const char*> args;
    const char* needle;
  } cases[] = {
      {{"--errno", "ENOPE"}, "ENOPE"},
      {{"--once", "--duration", "soon"}, "soon"},
      {{"--once", "--duration", "0"}, "greater than zero"},
      {{"--gate", "kprobe"}, "kprobe"},
      {{"--rate-limit", "0"}, "rate-limit"},
      {{"--no-feature", "warp"}, "warp"},
      {{"--ringbuf-size", "3M"}, "power of two"},
      {{"--bogus"}, "bogus"},
      {{"-o", "yaml"}, "yaml"},
      {{"--socket", ""}, "socket"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    EXPECT_FALSE(r.options) << c.args[0];
    EXPECT_EQ(r.exit_code, 2) << c.args[0];
    EXPECT_NE(r.message.find(c.needle), std::string::npos) << r.message;
    EXPECT_EQ(r.message.find("terminate called"), std::string::npos);
  }
}

TEST(Options, HelpAndVersionExitZero) {
  auto h = parse({"--help"});
  EXPECT_FALSE(h.options);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.message.find("--once"), std::string::npos);
  auto v = parse({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.message.find("enospcd "), std::string::npos);
}

}  // namespace
}  // namespace enospcd
