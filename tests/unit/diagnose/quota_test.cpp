// The quota rule: EDQUOT decides the cause; a quota origin in the chain says which limit refused the charge.
#include <gtest/gtest.h>

#include "diagnose/diagnose.h"
#include "unit/diagnose/fake_facts.h"

namespace enospcd::diagnose {
namespace {

using fakes::FakeFacts;

constexpr uint32_t kDev = (7u << 20) | 0;  // loop0 in the kernel's dev_t encoding

FakeFacts quota_facts() {
  FakeFacts facts;
  facts.by_dev[kDev] = fakes::make_fs("/mnt/quota", "ext4", 0xEF53);
  return facts;
}

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
  f.dev = kDev;
  f.fstype = "ext4";
  e.file = f;
  e.chain = std::move(chain);
  return e;
}

TEST(QuotaRule, BlockChargeNamesTheLimitAndTheFunction) {
  FakeFacts facts = quota_facts();
  // As 5.10, 6.1 and 6.12 report it for an ext4 delayed-allocation write (tests/vm/chains).
  Cause c = diagnose(edquot_write({{"dquot_add_space", -122, 0}, {"__dquot_alloc_space", -122, 0},
                                   {"ext4_da_reserve_space", -122, 0}}),
                     facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_EQ(c.confidence, Confidence::High);
  EXPECT_EQ(c.summary,
            "write(2) by enospc_trigger (pid 118, container -) failed: uid 65534 (or its group/project) is over its "
            "block quota on /mnt/quota (dquot_add_space returned -122).");
  EXPECT_EQ(c.evidence["origin"], "dquot_add_space");
  EXPECT_EQ(c.evidence["mount_point"], "/mnt/quota");
  EXPECT_EQ(c.evidence["chain"].size(), 3u);
}

TEST(QuotaRule, InodeChargeIsAnInodeQuota) {
  FakeFacts facts = quota_facts();
  Cause c = diagnose(edquot_write({{"dquot_alloc_inode", -122, 0}, {"__ext4_new_inode", -122, 0}}), facts);
  EXPECT_EQ(c.id, CauseId::Quota);
  EXPECT_NE(c.summary.find("over its inode quota on /mnt/quota (dquot_alloc_inode returned -122)"),
            std::string::npos)
      << c.summary;
  EXPECT_EQ(c.evidence["origin"], "dquot_alloc_inode");
}

// Gate-only mode, or a chain without a quota function (an ext4 origin that passed EDQUOT up): the errno
// still decides, and the summary does not guess which limit.
TEST(QuotaRule, WithoutAQuotaOriginTheErrnoDecides) {
  FakeFacts facts = quota_facts();
  for (const auto& chain : {std::vector<ChainLink>{}, std::vector<ChainLink>{{"ext4_da_reserve_space", -122, 0}}}) {
    Cause c = diagnose(edquot_write(chain), facts);
    EXPECT_EQ(c.id, CauseId::Quota);
    EXPECT_NE(c.summary.find("uid 65534 (or its group/project) is over its disk quota on /mnt/quota."),
              std::string::npos)
        << c.summary;
    EXPECT_FALSE(c.evidence.contains("origin"));
  }
}

}  // namespace
}  // namespace enospcd::diagnose
