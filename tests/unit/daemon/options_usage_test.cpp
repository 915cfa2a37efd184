// The daemon's command line as an operator meets it: options that only --once uses, checks done before any BPF
// is loaded, defaults in --help, repeated options, one sentence per error.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/has_value.h"
#include "daemon/options.h"

namespace enospcd {
namespace {

ParseOutcome parse(std::vector<const char*> args) {
  args.insert(args.begin(), "enospcd");
  return parse_daemon_options(static_cast<int>(args.size()), args.data());
}

TEST(OptionsUsage, OnceOnlyOptionsAreRefusedWithoutOnce) {
  for (const auto& [args, message] : std::vector<std::pair<std::vector<const char*>, std::string>>{
           {{"--duration", "5s"}, "enospcd: --duration applies only to --once\n"},
           {{"-o", "json"}, "enospcd: --output applies only to --once\n"},
           {{"--output", "text"}, "enospcd: --output applies only to --once\n"},
           {{"--events", "5"}, "enospcd: --events applies only to --once\n"}}) {
    auto r = parse(args);
    EXPECT_FALSE(r.options) << args[0];
    EXPECT_EQ(r.exit_code, 2) << args[0];
    EXPECT_EQ(r.message, message);
    auto with_once = parse([&] {
      auto a = args;
      a.push_back("--once");
      return a;
    }());
    EXPECT_TRUE(with_once.options) << with_once.message;
  }
}

TEST(OptionsUsage, MetricsAddressCheckedWhileParsing) {
  auto bad = parse({"--metrics-listen", "foo"});
  EXPECT_FALSE(bad.options);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.message, "enospcd: invalid metrics listen address 'foo': expected HOST:PORT, e.g. 127.0.0.1:9633\n");
  auto remote = parse({"--metrics-listen", "192.0.2.1:9633"});
  EXPECT_FALSE(remote.options);
  EXPECT_NE(remote.message.find("not a loopback address"), std::string::npos) << remote.message;
  for (const char* ok : {"127.0.0.1:9633", "[::1]:9633", "localhost:0"}) {
    auto r = parse({"--metrics-listen", ok});
    ASSERT_TRUE(r.options) << ok << ": " << r.message;
    EXPECT_EQ(*r.options->metrics_listen, ok);
  }
  EXPECT_TRUE(parse({"--metrics-listen", "192.0.2.1:9633", "--metrics-allow-remote"}).options);
  auto lone = parse({"--metrics-allow-remote"});
  EXPECT_FALSE(lone.options);
  EXPECT_EQ(lone.message, "enospcd: --metrics-allow-remote applies only with --metrics-listen\n");
}

TEST(OptionsUsage, LogFileDirectoryMustExist) {
  auto r = parse({"--log-file", "/nonexistent-enospcd-dir/sub/log"});
  EXPECT_FALSE(r.options);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.message, "enospcd: --log-file /nonexistent-enospcd-dir/sub/log: directory /nonexistent-enospcd-dir/sub "
                       "does not exist\n");
  EXPECT_TRUE(parse({"--log-file", "/tmp/enospcd-options-test.log"}).options);
  EXPECT_TRUE(parse({"--log-file", "relative.log"}).options);
}

TEST(OptionsUsage, EventSinksAndNameSources) {
  auto missing = parse({"--events-file", "/nonexistent-enospcd-dir/events.ndjson"});
  EXPECT_FALSE(missing.options);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.message, "enospcd: --events-file /nonexistent-enospcd-dir/events.ndjson: directory "
                             "/nonexistent-enospcd-dir does not exist\n");
  auto tiny = parse({"--events-file", "/tmp/e.ndjson", "--events-file-size", "1K"});
  EXPECT_EQ(tiny.message, "enospcd: --events-file-size 1K is below 4K\n");
  EXPECT_EQ(parse({"--events-file-size", "lots"}).message, "enospcd: invalid size \"lots\" (expected e.g. 4M, 512K)\n");
  EXPECT_EQ(parse({"--events-file-keep", "101"}).exit_code, 2);
  // A size whose bytes do not fit in 64 bits is refused, not wrapped around to a small one.
  EXPECT_EQ(parse({"--events-file-size", "1000000000000G"}).message,
            "enospcd: size \"1000000000000G\" is too large\n");
  auto r = parse({"--events-file", "/tmp/e.ndjson", "--events-file-size", "1G", "--events-file-keep", "0",
                  "--journald-events", "--host-root", "/proc/1/root", "--podman-root", "/a", "--podman-root", "/b",
                  "--docker-root", "/srv/docker", "--containerd-state", "/run/k3s/containerd"});
  ASSERT_HAS_VALUE(r.options) << r.message;
  EXPECT_EQ(r.options->events_file_max_bytes, 1ull << 30);
  EXPECT_EQ(r.options->events_file_keep, 0u);
  EXPECT_TRUE(r.options->journald_events);
  EXPECT_EQ(r.options->names.root, "/proc/1/root");
  EXPECT_EQ(r.options->names.podman_roots, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(r.options->names.docker_root, "/srv/docker");
  EXPECT_EQ(r.options->names.containerd_state, "/run/k3s/containerd");
  auto defaults = parse({});
  ASSERT_HAS_VALUE(defaults.options);
  EXPECT_EQ(defaults.options->names.podman_roots, (std::vector<std::string>{"/var/lib/containers/storage"}));
  EXPECT_EQ(defaults.options->names.docker_root, "/var/lib/docker");
  EXPECT_EQ(defaults.options->names.containerd_state, "/run/containerd");
  EXPECT_FALSE(defaults.options->journald_events);
  EXPECT_EQ(defaults.options->events_file, "");
}

TEST(OptionsUsage, LaterValuesOverrideEarlierOnes) {
  auto r = parse({"--once", "--duration", "30s", "--duration", "5s", "-o", "text", "-o", "json"});
  ASSERT_HAS_VALUE(r.options) << r.message;
  EXPECT_EQ(r.options->duration.count(), 5'000'000'000);
  EXPECT_EQ(r.options->output, OutputFormat::Json);
  auto probes = parse({"--probe", "a", "--probe", "b"});
  ASSERT_HAS_VALUE(probes.options) << probes.message;
  EXPECT_EQ(probes.options->extra_probes, (std::vector<std::string>{"a", "b"}));
}

TEST(OptionsUsage, HelpShowsDefaults) {
  auto h = parse({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* shown : {"--duration TEXT=30s", "--errno TEXT=ENOSPC", "--gate TEXT=auto", "=/run/enospcd/enospcd.sock",
                            "--state-dir TEXT=/var/lib/enospcd", "--ringbuf-size TEXT=4M", "--rate-limit", "=200",
                            "--history", "=10000", "--events", "=20"})
    EXPECT_NE(h.message.find(shown), std::string::npos) << shown << "\n" << h.message;
  EXPECT_EQ(h.message.rfind("enospcd: ", 0), 0u);
}

TEST(OptionsUsage, ParseErrorsAreOneLine) {
  auto r = parse({"--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.message, "enospcd: The following argument was not expected: --bogus (see enospcd --help)\n");
}

}  // namespace
}  // namespace enospcd
