#include "model/ucounts.h"

#include <array>
#include <utility>

#include "enospcd/abi.h"

namespace enospcd {

std::optional<size_t> Ucounts::refusing() const {
  for (size_t i = 0; i < levels.size(); i++) {
    const UcountLevel& l = levels[i];
    if (l.max <= 0 || l.count.value_or(-1) >= l.max) return i;
  }
  return std::nullopt;
}

namespace {
constexpr std::array<std::pair<UcountKind, const char*>, 10> kUcountNames = {{
    {UcountKind::InotifyWatches, "inotify_watches"},
    {UcountKind::UserNs, "user_namespaces"},
    {UcountKind::PidNs, "pid_namespaces"},
    {UcountKind::UtsNs, "uts_namespaces"},
    {UcountKind::IpcNs, "ipc_namespaces"},
    {UcountKind::NetNs, "net_namespaces"},
    {UcountKind::MntNs, "mnt_namespaces"},
    {UcountKind::CgroupNs, "cgroup_namespaces"},
    {UcountKind::TimeNs, "time_namespaces"},
    {UcountKind::FanotifyMarks, "fanotify_marks"},
}};
}  // namespace

const char* ucount_kind_name(UcountKind kind) {
  for (const auto& [k, name] : kUcountNames)
    if (k == kind) return name;
  return "unknown";
}

std::string ucount_sysctl(UcountKind kind) { return std::string("user.max_") + ucount_kind_name(kind); }

nlohmann::json to_json(const Ucounts& u) {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : u.levels) {
    nlohmann::json lj = {{"userns", l.userns}, {"uid", l.uid}, {"max", l.max}};
    lj["count"] = l.count ? nlohmann::json(*l.count) : nlohmann::json();
    if (l.initial) lj["initial"] = true;
    levels.push_back(std::move(lj));
  }
  return {{"kind", ucount_kind_name(u.kind)}, {"levels", std::move(levels)}};
}

std::optional<Ucounts> ucounts_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("levels") ||
      !j["levels"].is_array())
    return std::nullopt;
  Ucounts u;
  bool known = false;
  for (const auto& [k, name] : kUcountNames)
    if (j["kind"] == name) u.kind = k, known = true;
  if (!known) return std::nullopt;
  for (const auto& lj : j["levels"]) {
    if (!lj.is_object() || u.levels.size() >= ENOSPCD_UCOUNT_LEVELS) return std::nullopt;
    auto int_of = [&](const char* key) -> std::optional<int64_t> {
      auto it = lj.find(key);
      if (it == lj.end() || !it->is_number_integer()) return std::nullopt;
      return it->get<int64_t>();
    };
    UcountLevel l;
    auto userns = int_of("userns"), uid = int_of("uid"), max = int_of("max");
    if (!userns || !uid || !max || *userns < 0 || *userns > UINT32_MAX || *uid < 0 || *uid > UINT32_MAX)
      return std::nullopt;
    l.userns = static_cast<uint32_t>(*userns);
    l.uid = static_cast<uint32_t>(*uid);
    l.max = *max;
    l.count = int_of("count");
    auto initial = lj.find("initial");
    l.initial = initial != lj.end() && initial->is_boolean() && initial->get<bool>();
    u.levels.push_back(l);
  }
  return u;
}

}  // namespace enospcd
