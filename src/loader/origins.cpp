#include "loader/origins.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "loader/errno_filter.h"
#include "model/origins.h"
#include "origins.skel.h"

namespace enospcd {
namespace {

std::string errno_text(int err) {
  switch (err) {
    case EPERM:
    case EACCES: return "refused by the kernel (" + std::string(strerror(err)) + ")";
    // The kernel's internal ENOTSUPP, which strerror() does not know: no trampoline for this function (arm64
    // before v6.4, and kernels without DYNAMIC_FTRACE_WITH_DIRECT_CALLS, load fexit programs but cannot attach).
    case 524: return "not supported by this kernel (ENOTSUPP)";
    default: break;
  }
  return strerror(err);
}

}  // namespace

const std::vector<OriginSpec>& builtin_origins() {
  static const std::vector<OriginSpec> table = [] {
    std::vector<OriginSpec> out;
    for (const Origin& o : origin_table())
      out.push_back({std::string(o.func), std::string(o.subsystem), o.null_is_error});
    return out;
  }();
  return table;
}

std::string origin_mode_name(OriginMode m) {
  switch (m) {
    case OriginMode::Fexit: return "fexit";
    case OriginMode::Kretprobe: return "kretprobe";
    default: return "unavailable";
  }
}

namespace {
std::optional<FuncProto> proto_of(const btf* vmlinux, int id) {
  const btf_type* func = btf__type_by_id(vmlinux, static_cast<__u32>(id));
  const btf_type* proto = func ? btf__type_by_id(vmlinux, func->type) : nullptr;
  if (!proto || !btf_is_func_proto(proto)) return std::nullopt;
  FuncProto out;
  out.nargs = btf_vlen(proto);
  if (proto->type == 0) {
    out.ret = FuncProto::Ret::Void;
    return out;
  }
  int rid = btf__resolve_type(vmlinux, proto->type);
  const btf_type* rt = rid > 0 ? btf__type_by_id(vmlinux, static_cast<__u32>(rid)) : nullptr;
  if (!rt) return out;
  if (btf_is_ptr(rt)) {
    out.ret = FuncProto::Ret::Pointer;
  } else if (btf_is_int(rt)) {
    if (btf_int_encoding(rt) & BTF_INT_BOOL)
      out.ret = FuncProto::Ret::Bool;
    else
      out.ret = rt->size == 8 ? FuncProto::Ret::Int64 : FuncProto::Ret::Int32;
  } else if (btf_is_enum(rt)) {
    out.ret = FuncProto::Ret::Int32;
  }
  return out;
}
}  // namespace

std::optional<FuncProto> btf_func_proto(const btf* vmlinux, const std::string& name) {
  if (!vmlinux) return std::nullopt;
  int id = btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return std::nullopt;
  return proto_of(vmlinux, id);
}

std::map<std::string, FuncProto> btf_func_protos(const btf* vmlinux, const std::set<std::string>& names) {
  std::map<std::string, FuncProto> out;
  if (!vmlinux) return out;
  __u32 n = btf__type_cnt(vmlinux);
  for (__u32 id = 1; id < n && out.size() < names.size(); id++) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    if (!t || !btf_is_func(t)) continue;
    const char* name = btf__name_by_offset(vmlinux, t->name_off);
    if (!name || !names.count(name)) continue;
    if (auto p = proto_of(vmlinux, static_cast<int>(id))) out.emplace(name, *p);
  }
  return out;
}

enospcd_ret_kind classify_return(const FuncProto& proto, bool null_is_error) {
  switch (proto.ret) {
    case FuncProto::Ret::Int32: return ENOSPCD_RET_INT;
    case FuncProto::Ret::Int64: return ENOSPCD_RET_LONG;
    case FuncProto::Ret::Bool: return ENOSPCD_RET_BOOL;
    case FuncProto::Ret::Pointer: return null_is_error ? ENOSPCD_RET_PTR_NULL : ENOSPCD_RET_ERR_PTR;
    default: return ENOSPCD_RET_INVALID;
  }
}

void run_origin_ladder(const OriginConfig& cfg, FeatureProbe& probe, const std::map<std::string, FuncProto>& protos,
                       OriginLadder& out, const OriginAttach& attach, const std::function<void()>& detach) {
  auto& status = out.status;
  status.clear();
  // First what BTF alone can tell; the kallsyms check comes only once something could attach.
  std::vector<int> candidates;
  for (const auto& spec : cfg.origins) {
    OriginStatus st;
    st.spec = spec;
    auto found = protos.find(spec.func);
    if (found == protos.end()) {
      st.reason = "not in this kernel (no BTF entry: absent, renamed or inlined)";
    } else if (st.ret_kind = classify_return(found->second, spec.null_is_error); st.ret_kind == ENOSPCD_RET_INVALID) {
      st.reason = "its return value cannot carry an error";
    } else {
      st.nargs = found->second.nargs;
      candidates.push_back(static_cast<int>(status.size()));
    }
    status.push_back(std::move(st));
  }

  std::string kprobe_reason;
  if (!probe.has_kprobes())
    kprobe_reason = probe.disabled("kprobe") ? "kprobes disabled by --no-feature"
                                             : "kprobes are not built into this kernel (no kprobe PMU)";
  auto none_attach = [&](const std::string& reason) {
    for (int i : candidates) {
      status[static_cast<std::size_t>(i)].mode = OriginMode::Unavailable;
      status[static_cast<std::size_t>(i)].reason = reason;
    }
    out.summary = reason;
  };
  // A kernel that refuses fexit outright (EPERM for any target) and has no kprobes can attach nothing: one
  // trial load says so, without reading /proc/kallsyms (about 5 MB, generated by the kernel as it is read;
  // the slowest step of start-up on a loaded host).
  if (!candidates.empty() && !cfg.force_kretprobe && !probe.disabled("fexit") && !probe.has_kprobes()) {
    auto r = attach(OriginMode::Fexit, {candidates.front()}, false);
    detach();
    if (!r && r.error().code == EPERM) return none_attach("fexit " + r.error().message + "; " + kprobe_reason);
    OriginStatus& tried = status[static_cast<std::size_t>(candidates.front())];
    tried.mode = OriginMode::Unavailable;
    tried.reason.clear();
  }

  std::vector<int> present;
  for (int i : candidates) {
    OriginStatus& st = status[static_cast<std::size_t>(i)];
    if (!probe.has_kernel_symbol(st.spec.func))
      st.reason = "not in this kernel (absent, renamed or inlined)";
    else if (present.size() >= ENOSPCD_ORIGIN_MAX)
      st.reason = "no free probe slot (at most " + std::to_string(ENOSPCD_ORIGIN_MAX) + " origins)";
    else
      present.push_back(i);
  }
  candidates = std::move(present);
  if (candidates.empty()) {
    out.summary = "no origin function of the table exists in this kernel";
    return;
  }

  std::string fexit_reason;
  if (cfg.force_kretprobe) {
    fexit_reason = "kretprobe mode forced";
  } else if (probe.disabled("fexit")) {
    fexit_reason = "fexit disabled by --no-feature";
  } else {
    auto r = attach(OriginMode::Fexit, candidates, probe.has_kprobes());
    if (r) {
      out.summary = "origin probes on fexit";
      return;
    }
    fexit_reason = "fexit " + r.error().message;
  }
  if (probe.has_kprobes()) {
    auto r = attach(OriginMode::Kretprobe, candidates, true);
    if (r) {
      for (int i : candidates)
        if (status[static_cast<std::size_t>(i)].mode == OriginMode::Kretprobe)
          status[static_cast<std::size_t>(i)].reason = fexit_reason;
      out.summary = "origin probes on kretprobe (" + fexit_reason + ")";
      return;
    }
    kprobe_reason = "kretprobe " + r.error().message;
  }
  none_attach(fexit_reason + "; " + kprobe_reason);
}

namespace {
// x86 kernels before v5.14 cannot unwind through a kretprobe's return trampoline. The kernels that can find the
// real return address with kretprobe_find_ret_addr() (v5.14), or rethook_find_ret_addr() where kretprobes run on
// rethook (v6.0). The scan that stands in reads x86 call instructions.
bool kretprobe_needs_scan(FeatureProbe& probe) {
#if defined(__x86_64__)
  return !probe.has_kernel_symbol("kretprobe_find_ret_addr") && !probe.has_kernel_symbol("rethook_find_ret_addr");
#else
  (void)probe;
  return false;
#endif
}
}  // namespace

std::unique_ptr<OriginTracer> OriginTracer::start(const OriginConfig& cfg, FeatureProbe& probe) {
  std::unique_ptr<OriginTracer> t(new OriginTracer());
  std::set<std::string> wanted;
  for (const auto& spec : cfg.origins) wanted.insert(spec.func);
  btf* vmlinux = btf__load_vmlinux_btf();
  auto protos = btf_func_protos(vmlinux, wanted);
  btf__free(vmlinux);
  OriginTracer* self = t.get();
  run_origin_ladder(
      cfg, probe, protos, t->ladder_,
      [&](OriginMode mode, const std::vector<int>& ids, bool kprobes) {
        bool scan = kprobes && cfg.capture_stack && kretprobe_needs_scan(probe);
        return self->load_and_attach(cfg, mode, ids, kprobes, scan);
      },
      [self] { self->detach(); });
  if (t->scans_stack_)
    t->ladder_.summary += "; their callers are found by scanning the stack (this kernel cannot unwind through a "
                          "kretprobe's return trampoline)";
  return t;
}

Result<void> OriginTracer::load_and_attach(const OriginConfig& cfg, OriginMode mode, const std::vector<int>& candidates,
                                           bool kprobes, bool scan_stack) {
  detach();
  origins_bpf* s = origins_bpf__open();
  if (!s) return make_error(std::string("cannot open the origin BPF object: ") + strerror(errno), errno);
  bpf_program* prog;
  bpf_object__for_each_program(prog, s->obj) bpf_program__set_autoload(prog, false);

  set_errno_filter(s->rodata, cfg.errnos);
  s->rodata->capture_stack = cfg.capture_stack ? 1 : 0;
  s->rodata->scan_kret_stack = scan_stack ? 1 : 0;

  // fexit reads the return value after the arguments; trampolines of the kernels we target take at most six.
  // Functions with more go to a kretprobe where kprobes exist.
  std::vector<bpf_program*> slot_prog(candidates.size(), nullptr);
  std::vector<OriginMode> slot_mode(candidates.size(), mode);
  for (std::size_t slot = 0; slot < candidates.size(); slot++) {
    OriginStatus& st = ladder_.status[static_cast<std::size_t>(candidates[slot])];
    if (mode == OriginMode::Fexit && st.nargs > 6) {
      if (!kprobes) {
        st.reason = "more than 6 arguments for fexit, and no kprobes";
        continue;
      }
      slot_mode[slot] = OriginMode::Kretprobe;
      st.reason = "more than 6 arguments for fexit";
    }
    std::string name = (slot_mode[slot] == OriginMode::Fexit ? "origin_fexit_" : "origin_kret_") + std::to_string(slot);
    prog = bpf_object__find_program_by_name(s->obj, name.c_str());
    if (!prog) {
      origins_bpf__destroy(s);
      return make_error("missing program " + name);
    }
    bpf_program__set_autoload(prog, true);
    if (slot_mode[slot] == OriginMode::Fexit) {
      int err = bpf_program__set_attach_target(prog, 0, st.spec.func.c_str());
      if (err) {
        origins_bpf__destroy(s);
        return make_error("cannot target " + st.spec.func + ": " + strerror(-err), -err);
      }
    }
    s->rodata->slot_ret_kind[slot] = static_cast<__u8>(st.ret_kind);
    s->rodata->slot_nargs[slot] = static_cast<__u8>(st.nargs);
    s->rodata->slot_origin_id[slot] = static_cast<__u32>(candidates[slot]);
    slot_prog[slot] = prog;
  }
  int err = origins_bpf__load(s);
  if (err) {
    origins_bpf__destroy(s);
    return make_error(errno_text(-err), -err);
  }
  int live = 0, fexit_live = 0, fexit_failed = 0, fexit_errno = 0;
  std::string first_error;
  for (std::size_t slot = 0; slot < candidates.size(); slot++) {
    OriginStatus& st = ladder_.status[static_cast<std::size_t>(candidates[slot])];
    if (!slot_prog[slot]) continue;
    bpf_link* link = slot_mode[slot] == OriginMode::Fexit
                         ? bpf_program__attach_trace(slot_prog[slot])
                         : bpf_program__attach_kprobe(slot_prog[slot], true, st.spec.func.c_str());
    if (!link) {
      int e = errno;
      st.mode = OriginMode::Unavailable;
      st.reason = origin_mode_name(slot_mode[slot]) + " attach failed: " + errno_text(e);
      if (first_error.empty()) first_error = st.reason;
      if (slot_mode[slot] == OriginMode::Fexit && fexit_failed++ == 0) fexit_errno = e;
      continue;
    }
    fexit_live += slot_mode[slot] == OriginMode::Fexit;
    // The skeleton destroys links it knows; keep ours alive through the program's link list.
    links_.push_back(link);
    st.mode = slot_mode[slot];
    scans_stack_ = scans_stack_ || (scan_stack && st.mode == OriginMode::Kretprobe);
    live++;
  }
  skel_ = s;
  if (live == 0) return make_error("attached nothing: " + first_error);
  // Not one function took a trampoline (only the kretprobes of functions with too many arguments for one are
  // live): the kernel cannot attach fexit at all, and the next rung puts every function on a kretprobe.
  if (mode == OriginMode::Fexit && fexit_live == 0 && fexit_failed > 0) {
    detach();
    return make_error("attach failed on every function: " + errno_text(fexit_errno), fexit_errno);
  }
  return {};
}

void OriginTracer::detach() {
  for (bpf_link* l : links_) bpf_link__destroy(l);
  links_.clear();
  scans_stack_ = false;
  if (skel_) origins_bpf__destroy(skel_);
  skel_ = nullptr;
}

OriginTracer::~OriginTracer() { detach(); }

std::vector<std::string> OriginTracer::names() const {
  std::vector<std::string> out;
  for (const auto& st : ladder_.status) out.push_back(st.spec.func);
  return out;
}

int OriginTracer::live_count() const {
  int n = 0;
  for (const auto& st : ladder_.status) n += st.mode != OriginMode::Unavailable;
  return n;
}

std::string OriginTracer::summary() const { return ladder_.summary; }

int OriginTracer::chains_fd() const { return skel_ && live_count() ? bpf_map__fd(skel_->maps.chains) : -1; }
int OriginTracer::chain_pending_fd() const { return skel_ && live_count() ? bpf_map__fd(skel_->maps.chain_pending) : -1; }
int OriginTracer::losses_fd() const { return skel_ && live_count() ? bpf_map__fd(skel_->maps.losses) : -1; }

}  // namespace enospcd
