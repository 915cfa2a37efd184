#include "model/cause.h"

#include <array>
#include <utility>

namespace enospcd {
namespace {

constexpr std::array<std::pair<CauseId, std::string_view>, 22> kCauseNames = {{
    {CauseId::MountMax, "mount_max"},
    {CauseId::TmpfsInodes, "tmpfs_inodes"},
    {CauseId::TmpfsBlocks, "tmpfs_blocks"},
    {CauseId::FsBlocks, "fs_blocks"},
    {CauseId::FsInodes, "fs_inodes"},
    {CauseId::FsReservedBlocks, "fs_reserved_blocks"},
    {CauseId::Quota, "quota"},
    {CauseId::InotifyWatches, "inotify_watches"},
    {CauseId::FanotifyMarks, "fanotify_marks"},
    {CauseId::EpollWatches, "epoll_watches"},
    {CauseId::NamespaceLimit, "namespace_limit"},
    {CauseId::SysvIpc, "sysv_ipc"},
    {CauseId::Mqueue, "mqueue"},
    {CauseId::XattrSpace, "xattr_space"},
    {CauseId::WritebackError, "writeback_error"},
    {CauseId::Device, "device"},
    {CauseId::Pty, "pty"},
    {CauseId::Bpf, "bpf"},
    {CauseId::DirectoryIndex, "directory_index"},
    {CauseId::Cpuset, "cpuset"},
    {CauseId::CgroupIds, "cgroup_ids"},
    {CauseId::Unknown, "unknown"},
}};
static_assert(kCauseNames.size() == static_cast<size_t>(CauseId::Unknown) + 1, "a name for every cause id");

constexpr std::array<std::string_view, 3> kConfidenceNames = {"low", "medium", "high"};

}  // namespace

std::string_view cause_name(CauseId id) {
  auto i = static_cast<size_t>(id);
  return i < kCauseNames.size() ? kCauseNames[i].second : "unknown";
}

std::optional<CauseId> cause_from_name(std::string_view name) {
  for (const auto& [id, n] : kCauseNames)
    if (n == name) return id;
  return std::nullopt;
}

const std::vector<CauseId>& all_causes() {
  static const std::vector<CauseId> ids = [] {
    std::vector<CauseId> v;
    for (const auto& entry : kCauseNames) v.push_back(entry.first);
    return v;
  }();
  return ids;
}

std::string_view confidence_name(Confidence c) {
  auto i = static_cast<size_t>(c);
  return i < kConfidenceNames.size() ? kConfidenceNames[i] : "low";
}

std::optional<Confidence> confidence_from_name(std::string_view name) {
  for (size_t i = 0; i < kConfidenceNames.size(); i++)
    if (kConfidenceNames[i] == name) return static_cast<Confidence>(i);
  return std::nullopt;
}

nlohmann::json to_json(const Cause& c) {
  nlohmann::json j = {{"id", cause_name(c.id)}, {"summary", c.summary}, {"remedy", c.remedy},
                      {"confidence", confidence_name(c.confidence)}, {"evidence", to_json(c.evidence)}};
  if (c.read_after_ms) j["evidence"]["read_after_ms"] = *c.read_after_ms;
  return j;
}

std::optional<Cause> cause_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return std::nullopt;
  auto id = cause_from_name(j["id"].get<std::string>());
  if (!id) return std::nullopt;
  Cause c;
  c.id = *id;
  auto text = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  c.summary = text("summary");
  c.remedy = text("remedy");
  c.confidence = confidence_from_name(text("confidence")).value_or(Confidence::Low);
  if (auto it = j.find("evidence"); it != j.end() && it->is_object()) {
    c.evidence = evidence_from_json(c.id, *it);
    if (auto r = it->find("read_after_ms"); r != it->end() && r->is_number_unsigned()) c.read_after_ms = r->get<uint64_t>();
  }
  return c;
}

}  // namespace enospcd
