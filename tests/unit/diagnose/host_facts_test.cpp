// The live host facts read what a mount's source names; the source is the mounter's own text.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "diagnose/diagnose.h"
#include "support/temp_dir.h"

namespace enospcd::diagnose {
namespace {

// An ext4 "mounted" from a FIFO, or from a regular file: neither is read as a superblock, and the FIFO does not
// block the daemon (an open without O_NONBLOCK would wait for a writer forever).
TEST(LiveHostFacts, OnlyABlockDeviceIsReadAsAnExt4Superblock) {
  testing::TempDir root;
  ASSERT_EQ(mkfifo((root.path() + "/fifo").c_str(), 0600), 0);
  FILE* f = std::fopen((root.path() + "/image").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs(std::string(4096, '\x53').c_str(), f);
  std::fclose(f);
  auto facts = make_live_host_facts(root.path());
  PathFs fs;
  fs.fstype = "ext4";
  fs.source = "/fifo";
  EXPECT_FALSE(facts->ext4_incompat_features(fs).has_value());
  fs.source = "/image";
  EXPECT_FALSE(facts->ext4_incompat_features(fs).has_value());
  fs.source = "relative";
  EXPECT_FALSE(facts->ext4_incompat_features(fs).has_value());
}

TEST(LiveHostFacts, ABtrfsSourceOfDotsNamesNoDevice) {
  testing::TempDir root;
  auto facts = make_live_host_facts(root.path());
  PathFs fs;
  fs.fstype = "btrfs";
  for (const char* source : {"/dev/..", "/", "/.."}) {
    fs.source = source;
    EXPECT_FALSE(facts->btrfs_space(fs).has_value()) << source;
  }
}

}  // namespace
}  // namespace enospcd::diagnose
