// Id prefixes and container prefixes in the store.
#include <gtest/gtest.h>

#include "store/event_store.h"

namespace enospcd {
namespace {

Event at(uint64_t id) {
  Event e;
  e.id = id;
  e.time_ns = 1;
  return e;
}

TEST(EventStoreIds, PrefixesMatchDecimalSpellings) {
  EventStore s(16);
  s.add(at(1234));
  s.add(at(12345));
  s.add(at(7357189049442136064ULL));
  s.add(at(7357189049442140160ULL));
  EXPECT_EQ(s.ids_with_prefix("1234", 10), (std::vector<uint64_t>{1234, 12345}));
  EXPECT_EQ(s.ids_with_prefix("12345", 10), (std::vector<uint64_t>{12345}));
  EXPECT_EQ(s.ids_with_prefix("7357189049442136", 10), (std::vector<uint64_t>{7357189049442136064ULL}));
  EXPECT_EQ(s.ids_with_prefix("7357", 10).size(), 2u);
  EXPECT_EQ(s.ids_with_prefix("7357", 1).size(), 1u);
  EXPECT_TRUE(s.ids_with_prefix("9", 10).empty());
  s.clear();
  EXPECT_TRUE(s.ids_with_prefix("1234", 10).empty());
  // Ids go on increasing after a clear.
  EXPECT_GT(s.add(Event{}), 7357189049442140160ULL);
}

TEST(ContainerMatch, FourCharacterPrefixesNamesAndFullIds) {
  std::optional<ContainerRef> c =
      ContainerRef{.id = "449a0c1f2e3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddee", .name = "web"};
  EXPECT_TRUE(container_matches(c, "449a"));
  EXPECT_TRUE(container_matches(c, "449a0c1f2e3d"));
  EXPECT_TRUE(container_matches(c, c->id));
  EXPECT_TRUE(container_matches(c, "web"));
  EXPECT_FALSE(container_matches(c, "449"));  // shorter than kMinContainerPrefix
  EXPECT_FALSE(container_matches(c, "449b"));
  EXPECT_FALSE(container_matches(c, "we"));
  EXPECT_FALSE(container_matches(std::nullopt, "449a"));
  EXPECT_EQ(kMinContainerPrefix, 4u);
}

// A Kubernetes container by the names the metrics and enospcctl show: namespace/pod, namespace/pod/container, or
// the pod's UID; a pod name alone is not enough (two namespaces can hold the same one).
TEST(ContainerMatch, KubernetesWorkloadsByNamespacePodAndContainer) {
  std::optional<ContainerRef> c = ContainerRef{.id = "449a0c1f2e3d4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddee",
                                               .name = "nginx",
                                               .pod_uid = "5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab",
                                               .pod = "web-7d9f",
                                               .ns = "shop"};
  EXPECT_TRUE(container_matches(c, "shop/web-7d9f"));
  EXPECT_TRUE(container_matches(c, "shop/web-7d9f/nginx"));
  EXPECT_TRUE(container_matches(c, "5e3c2b1a-9f8e-4d7c-b6a5-0123456789ab"));
  EXPECT_TRUE(container_matches(c, "nginx"));
  EXPECT_FALSE(container_matches(c, "web-7d9f"));
  EXPECT_FALSE(container_matches(c, "other/web-7d9f"));
  EXPECT_FALSE(container_matches(c, "shop/web-7d9f/sidecar"));
  EXPECT_FALSE(container_matches(c, ""));
}

}  // namespace
}  // namespace enospcd
