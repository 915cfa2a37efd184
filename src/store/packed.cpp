#include "store/packed.h"

#include <mutex>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "common/type_traits.h"

namespace enospcd {
namespace {

// Each field list, once: A is the packing or the unpacking archive, X the struct (const when packing).
template <class A, class X>
void fields_of_link(A& a, X& l) {
  a(l.func), a(l.ret), a(l.ktime_ns), a(l.returns);
}

template <class A, class X>
void fields_of_file(A& a, X& f) {
  a(f.role), a(f.dev), a(f.magic), a(f.ino), a(f.mode), a(f.rdev), a(f.fstype), a(f.name), a(f.mount_name);
  a(f.shmem_max_blocks), a(f.shmem_used_blocks), a(f.shmem_max_inodes), a(f.shmem_free_inodes);
  a(f.shmem_used_exact), a(f.ext4);
}

template <class A, class X>
void fields_of_ext4(A& a, X& x) {
  a(x.blocks), a(x.free_blocks), a(x.reserved_blocks), a(x.inodes), a(x.free_inodes), a(x.block_size), a(x.exact);
}

template <class A, class X>
void fields_of_project_quota(A& a, X& q) {
  a(q.id), a(q.blocksize), a(q.blocks_reserved), a(q.blocks_hard), a(q.inodes_reserved), a(q.inodes_hard);
}

template <class A, class X>
void fields_of_pty(A& a, X& p) {
  a(p.nr), a(p.max), a(p.reserve);
}

template <class A, class X>
void fields_of_epoll(A& a, X& w) {
  a(w.uid), a(w.watches), a(w.exact), a(w.max);
}

template <class A, class X>
void fields_of_memcg(A& a, X& m) {
  a(m.hierarchy), a(m.descendants), a(m.dying);
}

template <class A, class X>
void fields_of_level(A& a, X& l) {
  a(l.userns), a(l.uid), a(l.count), a(l.max), a(l.initial);
}

template <class A, class X>
void fields_of_ucounts(A& a, X& u) {
  a(u.kind), a(u.levels);
}

template <class A, class X>
void fields_of_ipc(A& a, X& i) {
  a(i.inum), a(i.shm_ctlmni), a(i.msg_ctlmni), a(i.mq_queues_max), a(i.sem_ctlmni), a(i.sem_ids), a(i.msg_ids);
  a(i.shm_ids), a(i.sem_semmns), a(i.sem_used), a(i.shm_tot), a(i.shm_ctlall), a(i.mq_queues_count);
}

template <class A, class X>
void fields_of_container(A& a, X& c) {
  a(c.id), a(c.runtime), a(c.name), a(c.pod_uid), a(c.pod), a(c.ns), a(c.monitor);
}

template <class A, class X>
void fields_of_cause(A& a, X& c) {
  a(c.id), a(c.confidence), a(c.summary), a(c.remedy), a(c.read_after_ms);
  // The evidence as the CBOR of its JSON, read back as the cause's (its id comes first).
  if constexpr (std::is_const_v<X>) {
    a(to_json(c.evidence));
  } else {
    nlohmann::json j;
    a(j);
    c.evidence = evidence_from_json(c.id, j);
  }
}

// Everything but kstack_addrs and outer_stack_addrs, which symbolization has turned into kstack and
// chain_outer.
template <class A, class X>
void fields_of_event(A& a, X& e) {
  a(e.id), a(e.ktime_ns), a(e.time_ns), a(e.pid), a(e.tid), a(e.ppid), a(e.uid), a(e.gid), a(e.comm);
  a(e.syscall_nr), a(e.syscall), a(e.err), a(e.errno_name), a(e.ret), a(e.cgroup_id), a(e.cgroup_name);
  a(e.cgroup_name_truncated), a(e.mntns), a(e.mnt_count), a(e.mnt_pending), a(e.has_mntns), a(e.mount_max);
  a(e.ipc), a(e.userns), a(e.userns_max_mnt), a(e.ucounts), a(e.args_valid), a(e.args), a(e.path), a(e.path2);
  a(e.path_truncated), a(e.file), a(e.upper), a(e.project_quota), a(e.pty), a(e.epoll), a(e.memcg), a(e.chain), a(e.chain_dropped), a(e.chain_outer);
  a(e.chain_outer_truncated), a(e.chain_outer_scanned), a(e.kstack), a(e.kstack_truncated), a(e.exe);
  a(e.cmdline), a(e.cgroup_path), a(e.container), a(e.cause);
}

template <class A, class X>
void fields(A& a, X& x) {
  using T = std::remove_const_t<X>;
  if constexpr (std::is_same_v<T, ChainLink>) fields_of_link(a, x);
  else if constexpr (std::is_same_v<T, FileInfo>) fields_of_file(a, x);
  else if constexpr (std::is_same_v<T, FileInfo::Ext4Counts>) fields_of_ext4(a, x);
  else if constexpr (std::is_same_v<T, ProjectQuotaUse>) fields_of_project_quota(a, x);
  else if constexpr (std::is_same_v<T, PtyCounts>) fields_of_pty(a, x);
  else if constexpr (std::is_same_v<T, EpollWatches>) fields_of_epoll(a, x);
  else if constexpr (std::is_same_v<T, MemcgHierarchy>) fields_of_memcg(a, x);
  else if constexpr (std::is_same_v<T, UcountLevel>) fields_of_level(a, x);
  else if constexpr (std::is_same_v<T, Ucounts>) fields_of_ucounts(a, x);
  else if constexpr (std::is_same_v<T, Event::IpcLimits>) fields_of_ipc(a, x);
  else if constexpr (std::is_same_v<T, ContainerRef>) fields_of_container(a, x);
  else if constexpr (std::is_same_v<T, Cause>) fields_of_cause(a, x);
  else static_assert(std::is_same_v<T, void>, "no field list for this type");
}

// Text is a varint tag: (index << 1) | 1 for a pooled string, length << 1 for one that follows inline.
// Evidence is kept as CBOR text. Strings longer than kPoolMax are not pooled: they rarely repeat.
constexpr std::size_t kPoolMax = 512;

// Intern: the string pool's intern, called directly (no std::function per string).
template <class Intern>
class Packer {
 public:
  explicit Packer(Intern intern) : intern_(std::move(intern)) {}
  std::string out;

  template <class T>
  void operator()(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      out.push_back(v ? 1 : 0);
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      auto s = static_cast<int64_t>(v);
      number((static_cast<uint64_t>(s) << 1) ^ static_cast<uint64_t>(s >> 63));  // zigzag
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      number(static_cast<uint64_t>(v));
    } else if constexpr (std::is_same_v<T, std::string>) {
      text(v);
    } else if constexpr (std::is_same_v<T, nlohmann::json>) {
      auto cbor = nlohmann::json::to_cbor(v);
      text(std::string_view(reinterpret_cast<const char*>(cbor.data()), cbor.size()));
    } else if constexpr (is_optional<T>::value) {
      (*this)(v.has_value());
      if (v) (*this)(*v);
    } else if constexpr (is_vector<T>::value) {
      number(v.size());
      for (const auto& x : v) (*this)(x);
    } else if constexpr (std::is_same_v<T, std::array<uint64_t, 6>>) {
      for (uint64_t x : v) number(x);
    } else {
      fields(*this, v);
    }
  }

 private:
  void number(uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  void text(std::string_view s) {
    int64_t index = s.size() <= kPoolMax ? intern_(s) : -1;
    if (index >= 0) {
      number((static_cast<uint64_t>(index) << 1) | 1);
      return;
    }
    number(static_cast<uint64_t>(s.size()) << 1);
    out.append(s);
  }
  Intern intern_;
};

class Unpacker {
 public:
  Unpacker(std::string_view in, const std::deque<std::string>& pool) : in_(in), pool_(pool) {}
  bool done() const { return pos_ == in_.size(); }

  template <class T>
  void operator()(T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      v = byte() != 0;
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      uint64_t z = number();
      v = static_cast<T>(static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1));
    } else if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      v = static_cast<T>(number());
    } else if constexpr (std::is_same_v<T, std::string>) {
      v = std::string(text());
    } else if constexpr (std::is_same_v<T, nlohmann::json>) {
      std::string_view cbor = text();
      v = nlohmann::json::from_cbor(cbor.begin(), cbor.end());
    } else if constexpr (is_optional<T>::value) {
      bool present = false;
      (*this)(present);
      v.reset();
      // Built as a value first: a struct nested in Event is not default-constructible by emplace() in clang's
      // view while Event's member initializers are being defined.
      if (present) (*this)(v.emplace(typename T::value_type{}));
    } else if constexpr (is_vector<T>::value) {
      uint64_t n = number();
      if (n > in_.size() - pos_) throw std::runtime_error("packed event: bad count");  // each takes a byte
      v.resize(n);
      for (auto& x : v) (*this)(x);
    } else if constexpr (std::is_same_v<T, std::array<uint64_t, 6>>) {
      for (uint64_t& x : v) x = number();
    } else {
      fields(*this, v);
    }
  }

 private:
  uint8_t byte() {
    if (pos_ >= in_.size()) throw std::runtime_error("packed event: truncated");
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint64_t number() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw std::runtime_error("packed event: bad number");
  }
  std::string_view text() {
    uint64_t tag = number();
    if (tag & 1) {
      if ((tag >> 1) >= pool_.size()) throw std::runtime_error("packed event: bad string index");
      return pool_[tag >> 1];
    }
    uint64_t len = tag >> 1;
    if (len > in_.size() - pos_) throw std::runtime_error("packed event: truncated text");
    std::string_view s = in_.substr(pos_, len);
    pos_ += len;
    return s;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  const std::deque<std::string>& pool_;
};

}  // namespace

std::size_t StringPool::size() const {
  std::shared_lock lk(mu_);
  return strings_.size();
}

std::size_t StringPool::bytes() const {
  std::shared_lock lk(mu_);
  return bytes_;
}

bool StringPool::full() const {
  std::shared_lock lk(mu_);
  return refused_;
}

int64_t StringPool::intern(std::string_view s) {
  if (auto it = index_.find(s); it != index_.end()) return it->second;
  // Each entry also costs its deque slot and its hash node: counted roughly, so the bound holds.
  std::size_t cost = s.size() + 96;
  if (bytes_ + cost > max_bytes_) {
    refused_ = true;
    return -1;
  }
  strings_.emplace_back(s);
  bytes_ += cost;
  auto index = static_cast<uint32_t>(strings_.size() - 1);
  index_.emplace(strings_.back(), index);
  return index;
}

std::string pack_event(const Event& e, StringPool& pool) {
  std::unique_lock lk(pool.mu_);
  Packer p([&pool](std::string_view s) { return pool.intern(s); });
  fields_of_event(p, e);
  p.out.shrink_to_fit();
  return std::move(p.out);
}

Event unpack_event(std::string_view bytes, const StringPool& pool) {
  std::shared_lock lk(pool.mu_);
  Unpacker u(bytes, pool.strings_);
  Event e;
  fields_of_event(u, e);
  if (!u.done()) throw std::runtime_error("packed event: trailing bytes");
  return e;
}

}  // namespace enospcd
