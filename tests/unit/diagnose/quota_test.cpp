// The quota rule: EDQUOT decides the cause; a quota origin in the chain says which limit refused the charge.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"

namespace enospcd::diagnose {
namespace {

class FakeFacts : public HostFacts {
 public:
  const context::Sysctls& sysctls() override { return sysctls_; }
  std::optional<PathFs> fs_for_path(uint32_t, const std::string&) override { return std::nullopt; }
  std::optional<PathFs> fs_for_dev(uint32_t, uint32_t dev) override {
    if (dev != kDev) return std::nullopt;
    PathFs fs;
    fs.mount_point = "/mnt/quota";
    fs.fstype = "ext4";
    return fs;
  }
  std::optional<uint64_t> inotify_watches_of_uid(uint32_t) override { return std::nullopt; }
  std::vector<std::pair<std::string, uint64_t>> top_mount_sources(uint32_t, uint32_t) override { return {}; }
  static constexpr uint32_t kDev = (7u << 20) | 0;  // loop0 in the kernel's dev_t encoding

 private:
  context::Sysctls sysctls_;
};

Event edquot_write(std::vector<ChainLink> chain) {
  Event e;
  e.pid = 118;
  e.uid = 65534;
  e.comm = "enospc_trigger";
  e.syscall = "write";
  e.errno_name = "EDQUOT";
  e.err = 122;
  e.ret = -122;
  FileInfo f;
  f.dev = FakeFacts::kDev;
  f.fstype = "ext4";
  e.file = f;
  e.chain = std::move(chain);
  return e;
}

TEST(QuotaRule, BlockChargeNamesTheLimitAndTheFunction) {
  FakeFacts facts;
  // As 5.10, 6.1 and 6.12 report it for an ext4 delayed-allocation write (tests/vm/chains).
  Cause c = diagnose(edquot_write({{"dquot_add_space", -122, 0}, {"__dquot_alloc_space", -122, 0},
                                   {"ext4_da_reserve_space", -122, 0}}),
                     facts);
  EXPECT_EQ(c.id, "quota");
  EXPECT_EQ(c.confidence, "high");
  EXPECT_EQ(c.summary,
            "write(2) by enospc_trigger (pid 118, container -) failed: uid 65534 (or its group/project) is over its "
            "block quota on /mnt/quota (dquot_add_space returned -122).");
  EXPECT_EQ(c.evidence["origin"], "dquot_add_space");
  EXPECT_EQ(c.evidence["mount_point"], "/mnt/quota");
  EXPECT_EQ(c.evidence["chain"].size(), 3u);
}

TEST(QuotaRule, InodeChargeIsAnInodeQuota) {
  FakeFacts facts;
  Cause c = diagnose(edquot_write({{"dquot_alloc_inode", -122, 0}, {"__ext4_new_inode", -122, 0}}), facts);
  EXPECT_EQ(c.id, "quota");
  EXPECT_NE(c.summary.find("over its inode quota on /mnt/quota (dquot_alloc_inode returned -122)"),
            std::string::npos)
      << c.summary;
  EXPECT_EQ(c.evidence["origin"], "dquot_alloc_inode");
}

// Gate-only mode, or a chain without a quota function (an ext4 origin that passed EDQUOT up): the errno
// still decides, and the summary does not guess which limit.
TEST(QuotaRule, WithoutAQuotaOriginTheErrnoDecides) {
  FakeFacts facts;
  for (const auto& chain : {std::vector<ChainLink>{}, std::vector<ChainLink>{{"ext4_da_reserve_space", -122, 0}}}) {
    Cause c = diagnose(edquot_write(chain), facts);
    EXPECT_EQ(c.id, "quota");
    EXPECT_NE(c.summary.find("uid 65534 (or its group/project) is over its disk quota on /mnt/quota."),
              std::string::npos)
        << c.summary;
    EXPECT_FALSE(c.evidence.contains("origin"));
  }
}

}  // namespace
}  // namespace enospcd::diagnose
