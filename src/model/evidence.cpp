#include "model/evidence.h"

#include <limits>
#include <tuple>
#include <type_traits>

#include "common/type_traits.h"
#include "model/cause.h"

namespace enospcd {
namespace {

// Each evidence struct lists its members once, by JSON name; one writer and one reader serve them all. An
// empty optional shows as null, or is left out where the field says so; a field without a name is flattened
// into its parent's object.
template <class S, class T, bool Flat = false>
struct Field {
  std::string_view name;
  T S::*member;
  bool omit_empty;
};
template <class S, class T>
constexpr Field<S, T> field(std::string_view name, T S::*member) {
  return {name, member, false};
}
template <class S, class T>
constexpr Field<S, T> omittable(std::string_view name, T S::*member) {
  return {name, member, true};
}
template <class S, class T>
constexpr Field<S, T, true> flattened(T S::*member) {
  return {"", member, true};
}

constexpr auto describe(const StatfsNumbers*) {
  using S = StatfsNumbers;
  return std::tuple{field("type", &S::type),
                    field("magic", &S::magic),
                    field("block_size", &S::block_size),
                    field("total_bytes", &S::total_bytes),
                    field("used_bytes", &S::used_bytes),
                    field("free_bytes", &S::free_bytes),
                    field("avail_bytes", &S::avail_bytes),
                    field("reserved_bytes", &S::reserved_bytes),
                    field("blocks_used_pct", &S::blocks_used_pct),
                    field("inodes_total", &S::inodes_total),
                    field("inodes_used", &S::inodes_used),
                    field("inodes_free", &S::inodes_free),
                    field("inodes_used_pct", &S::inodes_used_pct)};
}
constexpr auto describe(const FsRef*) {
  using S = FsRef;
  return std::tuple{field("mount_point", &S::mount_point), omittable("fstype", &S::fstype),
                    omittable("source", &S::source), omittable("statfs", &S::statfs)};
}
constexpr auto describe(const OverlayRef*) {
  using S = OverlayRef;
  return std::tuple{field("mount_point", &S::mount_point), field("upper_dev", &S::upper_dev),
                    field("upper_fstype", &S::upper_fstype)};
}
constexpr auto describe(const MountSourceCount*) {
  return std::tuple{field("source", &MountSourceCount::source), field("count", &MountSourceCount::count)};
}
constexpr auto describe(const MountEvidence*) {
  using S = MountEvidence;
  return std::tuple{field("mntns", &S::mntns), field("mounts", &S::mounts), field("pending", &S::pending),
                    field("mount_max", &S::mount_max), field("top_sources", &S::top_sources)};
}
constexpr auto describe(const TmpfsAtFailure*) {
  using S = TmpfsAtFailure;
  return std::tuple{field("of", &S::of), field("max_blocks", &S::max_blocks), field("used_blocks", &S::used_blocks),
                    field("max_inodes", &S::max_inodes), field("free_inodes", &S::free_inodes)};
}
constexpr auto describe(const TmpfsEvidence*) {
  using S = TmpfsEvidence;
  return std::tuple{omittable("at_failure", &S::at_failure), omittable("inodes", &S::inodes),
                    omittable("inodes_free", &S::inodes_free), omittable("bytes_max", &S::bytes_max),
                    omittable("bytes_used", &S::bytes_used),
                    omittable("bytes_used_at_failure", &S::bytes_used_at_failure)};
}
constexpr auto describe(const BtrfsSpace*) {
  using S = BtrfsSpace;
  return std::tuple{field("metadata_total", &S::metadata_total), field("metadata_used", &S::metadata_used),
                    field("data_total", &S::data_total), field("data_used", &S::data_used),
                    field("unallocated", &S::unallocated)};
}
constexpr auto describe(const BtrfsEvidence*) { return std::tuple{field("btrfs", &BtrfsEvidence::btrfs)}; }
constexpr auto describe(const ProjectQuotaRow*) {
  using S = ProjectQuotaRow;
  return std::tuple{field("project", &S::project), field("bytes", &S::bytes), field("bytes_hard", &S::bytes_hard),
                    field("inodes", &S::inodes), field("inodes_hard", &S::inodes_hard),
                    field("at_failure", &S::at_failure)};
}
constexpr auto describe(const ProjectQuotaEvidence*) {
  using S = ProjectQuotaEvidence;
  return std::tuple{field("project_quota", &S::project_quota), field("projects_at_limit", &S::projects_at_limit)};
}
constexpr auto describe(const DirectoryIndexEvidence*) {
  using S = DirectoryIndexEvidence;
  return std::tuple{field("large_dir", &S::large_dir), field("directory", &S::directory),
                    field("directory_bytes", &S::directory_bytes)};
}
constexpr auto describe(const IpcNumbers*) {
  using S = IpcNumbers;
  return std::tuple{field("ipcns", &S::ipcns),         field("shmmni", &S::shmmni),
                    field("msgmni", &S::msgmni),       field("mqueue_queues_max", &S::mqueue_queues_max),
                    field("semmni", &S::semmni),       field("semmns", &S::semmns),
                    field("sem_ids", &S::sem_ids),     field("msg_ids", &S::msg_ids),
                    field("shm_ids", &S::shm_ids),     field("semaphores", &S::semaphores),
                    field("shm_pages", &S::shm_pages), field("shmall", &S::shmall),
                    field("mqueue_queues", &S::mqueue_queues)};
}
constexpr auto describe(const IpcEvidence*) {
  return std::tuple{field("limit", &IpcEvidence::limit), flattened(&IpcEvidence::numbers)};
}
constexpr auto describe(const PtyAtFailure*) {
  return std::tuple{field("nr", &PtyAtFailure::nr), field("max", &PtyAtFailure::max),
                    field("reserve", &PtyAtFailure::reserve)};
}
constexpr auto describe(const PtyEvidence*) {
  using S = PtyEvidence;
  return std::tuple{field("kernel.pty.max", &S::pty_max),        field("kernel.pty.reserve", &S::pty_reserve),
                    field("kernel.pty.nr", &S::pty_nr),          field("instance_max", &S::instance_max),
                    field("instance_in_use", &S::instance_in_use), omittable("at_failure", &S::at_failure),
                    omittable("options", &S::options)};
}
constexpr auto describe(const UcountEvidence*) {
  using S = UcountEvidence;
  return std::tuple{field("limit", &S::limit), field("userns", &S::userns), field("uid", &S::uid),
                    field("max", &S::max),     field("count", &S::count),   field("ucounts", &S::ucounts)};
}
constexpr auto describe(const UsernsLimit*) {
  return std::tuple{field("inum", &UsernsLimit::inum), field("max_mnt_namespaces", &UsernsLimit::max_mnt_namespaces)};
}
constexpr auto describe(const NamespaceEvidence*) {
  return std::tuple{field("limits", &NamespaceEvidence::limits), omittable("userns", &NamespaceEvidence::userns)};
}
constexpr auto describe(const InotifyHeldEvidence*) {
  using S = InotifyHeldEvidence;
  return std::tuple{field("max_user_watches", &S::max_user_watches), field("uid", &S::uid),
                    field("watches", &S::watches)};
}
constexpr auto describe(const FanotifyHeldEvidence*) {
  using S = FanotifyHeldEvidence;
  return std::tuple{field("max_user_marks", &S::max_user_marks), field("uid", &S::uid), field("marks", &S::marks)};
}
constexpr auto describe(const EpollAtFailure*) {
  using S = EpollAtFailure;
  return std::tuple{field("uid", &S::uid), field("watches", &S::watches), field("watches_exact", &S::watches_exact),
                    field("max_user_watches", &S::max_user_watches)};
}
constexpr auto describe(const EpollEvidence*) {
  return std::tuple{field("max_user_watches", &EpollEvidence::max_user_watches),
                    omittable("at_failure", &EpollEvidence::at_failure)};
}
constexpr auto describe(const BpfEvidence*) {
  return std::tuple{field("command", &BpfEvidence::command), omittable("cmd", &BpfEvidence::cmd)};
}
constexpr auto describe(const XattrEvidence*) {
  return std::tuple{field("inodes", &XattrEvidence::inodes), field("inodes_free", &XattrEvidence::inodes_free),
                    field("at_failure", &XattrEvidence::at_failure)};
}
constexpr auto describe(const CpusetEvidence*) {
  using S = CpusetEvidence;
  return std::tuple{field("file", &S::file), field("hierarchy", &S::hierarchy), omittable("cpuset", &S::cpuset),
                    omittable("cpus", &S::cpus), omittable("mems", &S::mems)};
}
constexpr auto describe(const DeviceEvidence*) {
  return std::tuple{field("device", &DeviceEvidence::device), field("rdev", &DeviceEvidence::rdev),
                    field("name", &DeviceEvidence::name)};
}
constexpr auto describe(const MemcgAtFailure*) {
  using S = MemcgAtFailure;
  return std::tuple{field("hierarchy", &S::hierarchy), field("descendants", &S::descendants),
                    field("dying_descendants", &S::dying_descendants)};
}
constexpr auto describe(const CgroupIdsEvidence*) {
  return std::tuple{field("memory_cgroup_ids", &CgroupIdsEvidence::memory_cgroup_ids),
                    omittable("at_failure", &CgroupIdsEvidence::at_failure)};
}
constexpr auto describe(const Evidence*) {
  using S = Evidence;
  return std::tuple{flattened(&S::fs),          omittable("bytes_requested", &S::bytes_requested),
                    omittable("chain", &S::chain), omittable("origin", &S::origin),
                    omittable("overlay", &S::overlay)};
}

template <class S>
void write_fields(nlohmann::json& j, const S& s);

template <class T>
nlohmann::json value_json(const T& v) {
  if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
    return v;
  } else if constexpr (is_vector<T>::value) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& x : v) a.push_back(value_json(x));
    return a;
  } else if constexpr (std::is_same_v<T, std::map<std::string, uint64_t>>) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& [k, n] : v) o[k] = n;
    return o;
  } else if constexpr (std::is_same_v<T, Ucounts>) {
    return to_json(v);
  } else {
    nlohmann::json o = nlohmann::json::object();
    write_fields(o, v);
    return o;
  }
}

template <class S, class T, bool Flat>
void put(nlohmann::json& j, const S& s, const Field<S, T, Flat>& f) {
  const T& v = s.*(f.member);
  if constexpr (Flat) {
    if (v) write_fields(j, *v);
  } else if constexpr (is_optional<T>::value) {
    if (v) j[std::string(f.name)] = value_json(*v);
    else if (!f.omit_empty) j[std::string(f.name)] = nullptr;
  } else {
    j[std::string(f.name)] = value_json(v);
  }
}

template <class S>
void write_fields(nlohmann::json& j, const S& s) {
  std::apply([&](const auto&... f) { (put(j, s, f), ...); }, describe(static_cast<const S*>(nullptr)));
}

// Reading: a member of the wrong type, or a number out of range, leaves the field as it was.
template <class S>
void read_fields(const nlohmann::json& j, S& s);

template <class T>
bool read_value(const nlohmann::json& j, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return false;
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
    if (!j.is_number_unsigned() && !(j.is_number_integer() && j.get<int64_t>() >= 0)) return false;
    const auto n = j.get<uint64_t>();
    if (n > std::numeric_limits<T>::max()) return false;
    out = static_cast<T>(n);
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) return false;
    if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return false;
    const auto n = j.get<int64_t>();
    if (n < std::numeric_limits<T>::min() || n > std::numeric_limits<T>::max()) return false;
    out = static_cast<T>(n);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) return false;
    out = j.get<std::string>();
  } else if constexpr (is_optional<T>::value) {
    if (j.is_null()) {
      out.reset();
      return true;
    }
    typename T::value_type v{};
    if (!read_value(j, v)) return false;
    out = std::move(v);
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) return false;
    T v;
    for (const auto& x : j) {
      typename T::value_type item{};
      if (read_value(x, item)) v.push_back(std::move(item));
    }
    out = std::move(v);
  } else if constexpr (std::is_same_v<T, std::map<std::string, uint64_t>>) {
    if (!j.is_object()) return false;
    T v;
    for (const auto& [k, x] : j.items()) {
      uint64_t n = 0;
      if (read_value(x, n)) v[k] = n;
    }
    out = std::move(v);
  } else if constexpr (std::is_same_v<T, Ucounts>) {
    auto u = ucounts_from_json(j);
    if (!u) return false;
    out = std::move(*u);
  } else {
    if (!j.is_object()) return false;
    read_fields(j, out);
  }
  return true;
}

// Whether any of a struct's own members is in the object (a flattened optional is there when one is).
template <class S>
bool has_any_field(const nlohmann::json& j) {
  return std::apply([&](const auto&... f) { return ((!f.name.empty() && j.contains(std::string(f.name))) || ...); },
                    describe(static_cast<const S*>(nullptr)));
}

template <class S, class T, bool Flat>
void get(const nlohmann::json& j, S& s, const Field<S, T, Flat>& f) {
  T& v = s.*(f.member);
  if constexpr (Flat) {
    // Flattened members are optional structs, there when one of their members is.
    using V = typename T::value_type;
    if (!has_any_field<V>(j)) return;
    V inner{};
    read_fields(j, inner);
    v = std::move(inner);
  } else {
    auto it = j.find(std::string(f.name));
    if (it != j.end()) read_value(*it, v);
  }
}

template <class S>
void read_fields(const nlohmann::json& j, S& s) {
  std::apply([&](const auto&... f) { (get(j, s, f), ...); }, describe(static_cast<const S*>(nullptr)));
}

template <class S>
S read_struct(const nlohmann::json& j) {
  S s{};
  read_fields(j, s);
  return s;
}

// Which detail a cause's evidence object holds: by the cause, and where a cause has more than one kind of
// explanation by the member only that kind has.
EvidenceDetail detail_from_json(CauseId id, const nlohmann::json& j) {
  auto has = [&](const char* key) { return j.contains(key); };
  switch (id) {
    case CauseId::MountMax:
      if (has("mntns")) return read_struct<MountEvidence>(j);
      break;
    case CauseId::TmpfsInodes:
    case CauseId::TmpfsBlocks:
      if (has_any_field<TmpfsEvidence>(j)) return read_struct<TmpfsEvidence>(j);
      break;
    case CauseId::FsBlocks:
      if (has("btrfs")) return read_struct<BtrfsEvidence>(j);
      break;
    case CauseId::Quota:
      if (has("project_quota")) return read_struct<ProjectQuotaEvidence>(j);
      break;
    case CauseId::DirectoryIndex:
      if (has("directory")) return read_struct<DirectoryIndexEvidence>(j);
      break;
    case CauseId::SysvIpc:
    case CauseId::Mqueue:
      if (has("limit")) return read_struct<IpcEvidence>(j);
      break;
    case CauseId::Pty:
      if (has("kernel.pty.max")) return read_struct<PtyEvidence>(j);
      break;
    case CauseId::InotifyWatches:
    case CauseId::FanotifyMarks:
    case CauseId::NamespaceLimit:
      if (has("ucounts")) return read_struct<UcountEvidence>(j);
      if (id == CauseId::InotifyWatches && has("max_user_watches")) return read_struct<InotifyHeldEvidence>(j);
      if (id == CauseId::FanotifyMarks && has("max_user_marks")) return read_struct<FanotifyHeldEvidence>(j);
      if (id == CauseId::NamespaceLimit && has("limits")) return read_struct<NamespaceEvidence>(j);
      break;
    case CauseId::EpollWatches:
      if (has("max_user_watches")) return read_struct<EpollEvidence>(j);
      break;
    case CauseId::Bpf:
      if (has("command")) return read_struct<BpfEvidence>(j);
      break;
    case CauseId::XattrSpace:
      if (has("inodes")) return read_struct<XattrEvidence>(j);
      break;
    case CauseId::Cpuset:
      if (has("file")) return read_struct<CpusetEvidence>(j);
      break;
    case CauseId::Device:
      if (has("device")) return read_struct<DeviceEvidence>(j);
      break;
    case CauseId::CgroupIds:
      if (has("memory_cgroup_ids")) return read_struct<CgroupIdsEvidence>(j);
      break;
    default:
      break;
  }
  return std::monostate{};
}

}  // namespace

nlohmann::json to_json(const StatfsNumbers& s) { return value_json(s); }

nlohmann::json to_json(const Evidence& e) {
  nlohmann::json j = nlohmann::json::object();
  write_fields(j, e);
  std::visit(
      [&](const auto& d) {
        using D = std::decay_t<decltype(d)>;
        if constexpr (!std::is_same_v<D, std::monostate>) write_fields(j, d);
        if constexpr (std::is_same_v<D, UcountEvidence>) {
          // The count and the limit also under the names of the kind.
          const nlohmann::json count = d.count ? nlohmann::json(*d.count) : nlohmann::json();
          if (d.ucounts.kind == UcountKind::InotifyWatches) j["watches"] = count, j["max_user_watches"] = d.max;
          if (d.ucounts.kind == UcountKind::FanotifyMarks) j["marks"] = count, j["max_user_marks"] = d.max;
        }
      },
      e.detail);
  return j;
}

Evidence evidence_from_json(CauseId id, const nlohmann::json& j) {
  Evidence e;
  if (!j.is_object()) return e;
  // The filesystem is there when its mount point is.
  read_fields(j, e);
  if (auto mp = j.find("mount_point"); e.fs && (mp == j.end() || !mp->is_string())) e.fs.reset();
  e.detail = detail_from_json(id, j);
  return e;
}

}  // namespace enospcd
