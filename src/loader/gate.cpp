#include "loader/gate.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "common/names.h"
#include "gate.skel.h"
#include "targeted.skel.h"
#include "loader/errno_filter.h"
#include "loader/targeted.h"
#include "loader/text_refs.h"

namespace enospcd {
namespace {

// The tp rung resolves the tracepoint id through tracefs; mount it where the host has not (systemd usually does).
void ensure_tracefs() {
  if (access("/sys/kernel/tracing/events", F_OK) == 0 || access("/sys/kernel/debug/tracing/events", F_OK) == 0) return;
  if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0)
    spdlog::info("mounted tracefs on /sys/kernel/tracing for the tracepoints");
}

std::string describe_errno(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "permission denied (run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)";
    case ENOENT:
      return "the kernel lacks this hook or its BTF";
    case EINVAL:
      return "the kernel rejected the program or attach type";
    case E2BIG:
      return "the kernel's BPF limits were exceeded";
    case ENOMEM:
      return "out of memory for BPF maps (memlock limit?)";
    case EOPNOTSUPP:
      return "operation not supported by this kernel";
    default:
      return std::string(strerror(err));
  }
}

bpf_program* program_for(gate_bpf* s, GateMode m) {
  switch (m) {
    case GateMode::TpBtf: return s->progs.gate_tp_btf;
    case GateMode::RawTp: return s->progs.gate_raw_tp;
    case GateMode::Tp: return s->progs.gate_tp;
    default: return nullptr;
  }
}

// The io_uring completion tracepoint's directory in tracefs, as the tp attach resolves it; "" when absent.
std::string io_uring_tracepoint_dir() {
  ensure_tracefs();
  for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::string dir = std::string(root) + "/events/io_uring/io_uring_complete";
    if (access((dir + "/id").c_str(), F_OK) == 0) return dir;
  }
  return "";
}

// Whether the completion tracepoint records the request (not on 5.10), from the fields its format lists; a format
// that cannot be read counts as recording it, so kiocb_done() is traced only where the tracepoint is known not to.
bool tracepoint_records_request(const std::string& dir) {
  std::ifstream in(dir + "/format");
  if (!in) return true;
  for (std::string line; std::getline(in, line);)
    if (line.find("field:") != std::string::npos &&
        (line.find(" req;") != std::string::npos || line.find("*req;") != std::string::npos))
      return true;
  return false;
}

// The CPUs __per_cpu_offset[] is read for, 0..N-1, when that is the possible set (/sys/devices/system/cpu/possible
// "0-N"); 0 (no sum) for a set with holes, whose entries are not offsets of real CPUs.
uint32_t contiguous_possible_cpus() {
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string text;
  if (!std::getline(in, text) || text.find(',') != std::string::npos) return 0;
  if (text == "0") return 1;
  unsigned last = 0;
  if (std::sscanf(text.c_str(), "0-%u", &last) != 1 || last > 100000) return 0;
  return last + 1;
}

// Loads and attaches one rung. On failure the skeleton is destroyed and the reason returned.
// Addresses from kallsyms the gate reads at a failure (in .bss: they may come after the gate is loaded).
void write_kernel_data(gate_bpf* s, const KernelData& k) {
  s->bss->mount_max_addr = k.mount_max;
  s->bss->per_cpu_offset_addr = k.per_cpu_offset;
  s->bss->pty_count_addr = k.pty_count;
  s->bss->pty_limit_addr = k.pty_limit;
  s->bss->pty_reserve_addr = k.pty_reserve;
  s->bss->max_user_watches_addr = k.max_user_watches;
}

// Settings live in .rodata, fixed at load time (the verifier then prunes what they disable); the same for every
// object that carries the failure path.
void configure(gate_bpf* s, const GateConfig& cfg) {
  set_errno_filter(s->rodata, cfg.errnos);
  s->rodata->self_tgid = cfg.self_tgid;
  s->rodata->origins_enabled = cfg.chains_fd >= 0 ? 1 : 0;
  s->rodata->rl_rate = cfg.rate_limit;
  s->rodata->rl_burst = cfg.rate_limit ? (cfg.rate_burst ? cfg.rate_burst : cfg.rate_limit) : 0;
  // The syscalls whose refusing per-user-namespace count the gate reads.
  auto nr_or_none = [](const char* name) { return syscall_number(name).value_or(~0u); };
  s->rodata->nr_inotify_add_watch = nr_or_none("inotify_add_watch");
  s->rodata->nr_fanotify_mark = nr_or_none("fanotify_mark");
  s->rodata->nr_unshare = nr_or_none("unshare");
  s->rodata->nr_clone = nr_or_none("clone");
  s->rodata->nr_clone3 = nr_or_none("clone3");
  s->rodata->nr_open = nr_or_none("open");
  s->rodata->nr_openat = nr_or_none("openat");
  s->rodata->nr_openat2 = nr_or_none("openat2");
  s->rodata->nr_epoll_ctl = nr_or_none("epoll_ctl");
  s->rodata->nr_mkdir = nr_or_none("mkdir");
  s->rodata->nr_mkdirat = nr_or_none("mkdirat");
}

Result<gate_bpf*> try_rung(const GateConfig& cfg, GateMode mode) {
  gate_bpf* s = gate_bpf__open();
  if (!s) return make_error("cannot open the gate BPF object: " + describe_errno(errno), errno);
  auto fail = [&](const std::string& step, int err) -> Result<gate_bpf*> {
    gate_bpf__destroy(s);
    return make_error(step + ": " + describe_errno(err), err);
  };

  for (GateMode m : {GateMode::TpBtf, GateMode::RawTp, GateMode::Tp})
    bpf_program__set_autoload(program_for(s, m), m == mode);
  // Targeted: the slots come in objects of their own (GateTracer::add_syscalls); this one holds the maps and the
  // completeness check.
  const bool targeted = mode == GateMode::Targeted;
  bpf_program__set_autoload(s->progs.targeted_failure, false);
  bpf_program__set_autoload(s->progs.targeted_check, targeted);
  bpf_program__set_autoload(s->progs.async_io_uring, cfg.io_uring);
  bpf_program__set_autoload(s->progs.peek_kernel, true);
  bpf_program__set_autoload(s->progs.async_aio_fentry, cfg.aio == GateConfig::Aio::Fentry);
  bpf_program__set_autoload(s->progs.async_aio_kprobe, cfg.aio == GateConfig::Aio::Kprobe);
  // kiocb_done() is traced the way aio_complete_rw() is.
  const bool uring_rw = cfg.io_uring && cfg.io_uring_rw && cfg.aio != GateConfig::Aio::None;
  bpf_program__set_autoload(s->progs.uring_rw_fentry, uring_rw && cfg.aio == GateConfig::Aio::Fentry);
  bpf_program__set_autoload(s->progs.uring_rw_kprobe, uring_rw && cfg.aio == GateConfig::Aio::Kprobe);
  s->rodata->uring_rw_enabled = uring_rw ? 1 : 0;

  configure(s, cfg);

  if (int err = bpf_map__set_max_entries(s->maps.events, cfg.ringbuf_bytes); err != 0)
    return fail("ring buffer size " + std::to_string(cfg.ringbuf_bytes), -err);
  if (int err = bpf_map__set_max_entries(s->maps.counts, cfg.counter_entries); err != 0)
    return fail("counter map size", -err);
  if (cfg.chains_fd >= 0) {
    if (int err = bpf_map__reuse_fd(s->maps.chains, cfg.chains_fd); err != 0)
      return fail("sharing the chain map", -err);
    if (int err = bpf_map__reuse_fd(s->maps.chain_pending, cfg.chain_pending_fd); err != 0)
      return fail("sharing the chain counter", -err);
    if (int err = bpf_map__reuse_fd(s->maps.losses, cfg.losses_fd); err != 0)
      return fail("sharing the loss counters", -err);
  } else if (int err = bpf_map__set_max_entries(s->maps.chains, 1); err != 0) {
    // Gate-only: the verifier removes every chain access, but the map is still created (2 MB preallocated).
    return fail("chain map size", -err);
  }
  if (int err = gate_bpf__load(s); err != 0) return fail("loading the " + gate_mode_name(mode) + " gate", -err);
  write_kernel_data(s, cfg.kernel_data);
  s->bss->nr_possible_cpus = contiguous_possible_cpus();

  // Path-argument metadata, by syscall number for this architecture.
  int pa_fd = bpf_map__fd(s->maps.path_args);
  for (const auto& [nr, spec] : path_arg_table()) {
    uint32_t key = nr;
    if (bpf_map_update_elem(pa_fd, &key, &spec, BPF_ANY)) return fail("filling the path-argument table", errno);
  }

  if (targeted) return s;
  if (mode == GateMode::Tp) ensure_tracefs();
  bpf_link* link = bpf_program__attach(program_for(s, mode));
  if (!link) return fail("attaching the " + gate_mode_name(mode) + " gate", errno);
  s->links.gate_tp_btf = mode == GateMode::TpBtf ? link : nullptr;
  s->links.gate_raw_tp = mode == GateMode::RawTp ? link : nullptr;
  s->links.gate_tp = mode == GateMode::Tp ? link : nullptr;
  return s;
}

// io_uring completions, as optional: "attached[ (...)]" or "unavailable: <why>". Where the request's reads and
// writes are traced as they end, for their opcode and file, the status says how.
std::string attach_io_uring(gate_bpf* s, const GateConfig& cfg) {
  bpf_link* link = bpf_program__attach(s->progs.async_io_uring);
  if (!link) return "unavailable: attaching to io_uring:io_uring_complete: " + describe_errno(errno);
  s->links.async_io_uring = link;
  if (!cfg.io_uring_rw || cfg.aio == GateConfig::Aio::None) return "attached";
  const bool fentry = cfg.aio == GateConfig::Aio::Fentry;
  bpf_program* prog = fentry ? s->progs.uring_rw_fentry : s->progs.uring_rw_kprobe;
  link = bpf_program__attach(prog);
  if (!link)
    return std::string("attached (the requests' opcodes and files unknown: attaching ") +
           (fentry ? "fentry" : "a kprobe") + " to kiocb_done: " + describe_errno(errno) + ")";
  (fentry ? s->links.uring_rw_fentry : s->links.uring_rw_kprobe) = link;
  return fentry ? "attached (reads and writes also on kiocb_done, fentry)" : "attached (reads and writes also on kiocb_done, kprobe)";
}

// Linux AIO completions, as optional: "attached (<how>)" or "unavailable: <why>".
std::string attach_aio(gate_bpf* s, GateConfig::Aio how) {
  const bool fentry = how == GateConfig::Aio::Fentry;
  bpf_program* prog = fentry ? s->progs.async_aio_fentry : s->progs.async_aio_kprobe;
  bpf_link* link = bpf_program__attach(prog);
  if (!link)
    return std::string("unavailable: attaching ") + (fentry ? "fentry" : "a kprobe") +
           " to aio_complete_rw: " + describe_errno(errno);
  (fentry ? s->links.async_aio_fentry : s->links.async_aio_kprobe) = link;
  return fentry ? "attached (fentry)" : "attached (kprobe)";
}

}  // namespace

std::string gate_mode_name(GateMode m) {
  switch (m) {
    case GateMode::TpBtf: return "tp_btf";
    case GateMode::RawTp: return "raw_tp";
    case GateMode::Tp: return "tp";
    case GateMode::Targeted: return "targeted";
    default: return "auto";
  }
}

Result<GateMode> parse_gate_mode(const std::string& s) {
  if (s == "auto") return GateMode::Auto;
  if (s == "tp_btf") return GateMode::TpBtf;
  if (s == "raw_tp") return GateMode::RawTp;
  if (s == "tp") return GateMode::Tp;
  if (s == "targeted") return GateMode::Targeted;
  return make_error("unknown gate mode \"" + s + "\" (expected auto, targeted, tp_btf, raw_tp or tp)");
}

std::vector<std::pair<uint32_t, enospcd_path_args>> path_arg_table() {
  std::vector<std::pair<uint32_t, enospcd_path_args>> out;
  for (const auto& spec : path_arg_specs()) {
    auto nr = syscall_number(spec.syscall);
    if (!nr || *nr >= ENOSPCD_SYSCALL_MAX) continue;
    out.push_back({*nr, enospcd_path_args{spec.path1, spec.path2, spec.fd_arg, spec.dir_arg}});
  }
  return out;
}

std::vector<GateMode> gate_ladder(const GateConfig& cfg, FeatureProbe& probe) {
  if (cfg.force_mode != GateMode::Auto) return {cfg.force_mode};
  std::vector<GateMode> ladder;
  // targeted needs fexit (which the origin probes found working) and a syscall set for the watched errnos.
  if (cfg.fexit && probe.has_vmlinux_btf() && !probe.disabled("targeted") && !probe.disabled("fexit") &&
      !cfg.targeted_syscalls.empty())
    ladder.push_back(GateMode::Targeted);
  // tp_btf needs the kernel's BTF; raw_tp and tp do not (CO-RE reads still do, checked at load).
  if (probe.has_vmlinux_btf() && !probe.disabled("tp_btf")) ladder.push_back(GateMode::TpBtf);
  if (!probe.disabled("raw_tp")) ladder.push_back(GateMode::RawTp);
  if (!probe.disabled("tp")) ladder.push_back(GateMode::Tp);
  return ladder;
}

Result<std::unique_ptr<GateTracer>> GateTracer::start(const GateConfig& cfg, FeatureProbe& probe) {
  if (!probe.can_load_bpf())
    return make_error("enospcd needs root (or CAP_BPF and CAP_PERFMON) to load its BPF programs", EPERM);

  std::vector<GateMode> ladder = gate_ladder(cfg, probe);
  if (!probe.has_vmlinux_btf())
    return make_error("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing); enospcd needs a kernel "
                      "built with CONFIG_DEBUG_INFO_BTF=y",
                      ENOENT);

  std::unique_ptr<GateTracer> t(new GateTracer());
  auto t0 = std::chrono::steady_clock::now();
  // Targeted mode without a syscall set is not tried; its entry functions are read from BTF by add_syscalls().
  std::string targeted_error = cfg.targeted_unavailable;
  if (targeted_error.empty() && cfg.targeted_syscalls.empty()) targeted_error = "no syscall to attach to";
  GateConfig rung_cfg = cfg;
  if (probe.disabled("io_uring")) {
    t->io_uring_ = "unavailable: disabled (--no-feature io_uring)";
  } else if (std::string dir = io_uring_tracepoint_dir(); dir.empty()) {
    t->io_uring_ = "unavailable: this kernel has no io_uring:io_uring_complete tracepoint";
  } else {
    rung_cfg.io_uring = true;
    // Where the tracepoint leaves the request out, its reads and writes are traced where they end, kiocb_done().
    rung_cfg.io_uring_rw = !tracepoint_records_request(dir) && probe.has_kernel_symbol("kiocb_done");
  }
  if (probe.disabled("aio")) {
    rung_cfg.aio = GateConfig::Aio::None;
    t->aio_ = "unavailable: disabled (--no-feature aio)";
  } else if (rung_cfg.aio == GateConfig::Aio::None && probe.has_kprobes() && !probe.disabled("kprobe")) {
    rung_cfg.aio = GateConfig::Aio::Kprobe;
  } else if (rung_cfg.aio == GateConfig::Aio::None) {
    t->aio_ = "unavailable: aio_complete_rw has no tracepoint, and neither fentry nor kprobes work here";
  }
  std::string reasons;
  for (GateMode m : ladder) {
    // The completion programs are optional: a kernel that refuses them keeps the rung without them (AIO's, on
    // a function, is given up first, then io_uring's, then both).
    std::vector<GateConfig> tries = {rung_cfg};
    auto add_try = [&](bool drop_aio, bool drop_io_uring) {
      if ((drop_aio && rung_cfg.aio == GateConfig::Aio::None) || (drop_io_uring && !rung_cfg.io_uring)) return;
      GateConfig c = rung_cfg;
      if (drop_aio) c.aio = GateConfig::Aio::None;
      if (drop_io_uring) c.io_uring = false;
      tries.push_back(c);
    };
    add_try(true, false);
    add_try(false, true);
    add_try(true, true);
    if (m == GateMode::Targeted && !targeted_error.empty()) {
      t->attempts_.push_back({m, targeted_error});
      reasons += (reasons.empty() ? "" : "; ") + targeted_error;
      continue;
    }
    auto r = try_rung(tries[0], m);
    const std::string first_error = r.ok() ? "" : r.error().message;
    std::size_t tried = 0;
    while (!r.ok() && r.error().code != EPERM && r.error().code != EACCES && ++tried < tries.size())
      r = try_rung(tries[tried], m);
    if (r.ok() && m == GateMode::Targeted) {
      // The slots, each on its own: a kernel that refuses them leaves the next rung to try.
      t->skel_ = *r;
      t->cfg_ = tries[tried];
      t->kernel_data_ = cfg.kernel_data;
      t->mode_ = m;
      if (auto a = t->add_syscalls(cfg.targeted_syscalls); !a) {
        t->release_targeted();
        gate_bpf__destroy(t->skel_);
        t->skel_ = nullptr;
        t->mode_ = GateMode::Auto;
        r = make_error(a.error().message, a.error().code);
      }
    }
    if (r.ok() && tried > 0) {
      if (rung_cfg.aio != GateConfig::Aio::None && tries[tried].aio == GateConfig::Aio::None)
        t->aio_ = "unavailable: " + first_error;
      if (rung_cfg.io_uring && !tries[tried].io_uring) t->io_uring_ = "unavailable: " + first_error;
      rung_cfg = tries[tried];
    }
    if (r.ok()) {
      t->skel_ = *r;
      t->cfg_ = rung_cfg;
      t->kernel_data_ = cfg.kernel_data;
      t->mode_ = m;
      t->attempts_.push_back({m, ""});
      break;
    }
    std::string why = r.error().message;
    if (m == GateMode::Targeted && (r.error().code == EPERM || r.error().code == EACCES))
      why = "fexit refused by the kernel (" + std::string(strerror(r.error().code)) + ")";
    t->attempts_.push_back({m, why});
    if (!reasons.empty()) reasons += "; ";
    reasons += why;
    // A kernel that refuses fexit says EPERM to targeted mode's programs alone: the next rung is tried.
    if ((r.error().code == EPERM || r.error().code == EACCES) && m != GateMode::Targeted)
      return make_error("cannot load BPF programs: " + describe_errno(r.error().code), r.error().code);
  }
  if (!t->skel_) return make_error("no syscall-exit hook could be attached (" + reasons + ")");
  // What kallsyms left out is looked for in the code now that peek_kernel is loaded.
  if (!cfg.kernel_data.readers.empty()) t->set_kernel_data(cfg.kernel_data);
  if (rung_cfg.io_uring) t->io_uring_ = attach_io_uring(t->skel_, rung_cfg);
  if (rung_cfg.aio != GateConfig::Aio::None) t->aio_ = attach_aio(t->skel_, rung_cfg.aio);
  t->attach_time_ = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  return t;
}

GateTracer::~GateTracer() {
  if (ring_) ring_buffer__free(ring_);
  release_targeted();
  if (skel_) gate_bpf__destroy(skel_);
}

void GateTracer::release_targeted() {
  if (check_link_) bpf_link__destroy(check_link_);
  check_link_ = nullptr;
  for (bpf_link* l : slot_links_) bpf_link__destroy(l);
  slot_links_.clear();
  for (targeted_bpf* o : slot_objs_) targeted_bpf__destroy(o);
  slot_objs_.clear();
  for (auto& [proto, f] : failure_objs_) gate_bpf__destroy(f);
  failure_objs_.clear();
  targeted_ = {};
}

namespace {

// Makes the object use the main object's maps of the same names (all but its internal ones and those named).
template <typename Skel>
Result<void> share_maps(Skel* s, gate_bpf* main, const std::set<std::string>& own) {
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, s->obj) {
    if (bpf_map__is_internal(m) || own.count(bpf_map__name(m))) continue;
    const bpf_map* shared = bpf_object__find_map_by_name(main->obj, bpf_map__name(m));
    if (!shared) return make_error(std::string("no map ") + bpf_map__name(m) + " to share", ENOENT);
    if (int err = bpf_map__reuse_fd(m, bpf_map__fd(shared)); err != 0)
      return make_error(std::string("sharing map ") + bpf_map__name(m) + ": " + describe_errno(-err), -err);
  }
  return {};
}

// The failure program for entry functions of one prototype, loaded for `fn`, on the main object's maps.
Result<gate_bpf*> load_failure(gate_bpf* main, const GateConfig& cfg, const KernelData& k, const std::string& fn) {
  gate_bpf* s = gate_bpf__open();
  if (!s) return make_error("cannot open the gate BPF object: " + describe_errno(errno), errno);
  auto fail = [&](const std::string& step, int err) -> Result<gate_bpf*> {
    gate_bpf__destroy(s);
    return make_error(step + ": " + describe_errno(err), err);
  };
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, s->obj) bpf_program__set_autoload(prog, prog == s->progs.targeted_failure);
  if (int err = bpf_program__set_attach_target(s->progs.targeted_failure, 0, fn.c_str()); err != 0)
    return fail("the failure program's target " + fn, -err);
  configure(s, cfg);
  if (auto r = share_maps(s, main, {}); !r) {
    gate_bpf__destroy(s);
    return r.error();
  }
  if (int err = gate_bpf__load(s); err != 0) return fail("loading the targeted failure program", -err);
  write_kernel_data(s, k);
  s->bss->nr_possible_cpus = contiguous_possible_cpus();
  return s;
}

// One object of slots for these entry functions (at most ENOSPCD_TARGETED_MAX, all of one prototype), on the main
// object's maps, whose slots tail-call `failure_fd`.
Result<targeted_bpf*> load_slots(gate_bpf* main, const GateConfig& cfg, const std::vector<std::string>& fns,
                                 int failure_fd) {
  targeted_bpf* s = targeted_bpf__open();
  if (!s) return make_error("cannot open the targeted BPF object: " + describe_errno(errno), errno);
  auto fail = [&](const std::string& step, int err) -> Result<targeted_bpf*> {
    targeted_bpf__destroy(s);
    return make_error(step + ": " + describe_errno(err), err);
  };
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, s->obj) bpf_program__set_autoload(prog, false);
  for (std::size_t i = 0; i < fns.size(); i++) {
    std::string name = "targeted_" + std::to_string(i);
    bpf_program* p = bpf_object__find_program_by_name(s->obj, name.c_str());
    if (!p) return fail("no slot " + name, ENOENT);
    bpf_program__set_autoload(p, true);
    if (int err = bpf_program__set_attach_target(p, 0, fns[i].c_str()); err != 0) return fail(fns[i], -err);
  }
  set_errno_filter(s->rodata, cfg.errnos);
  s->rodata->origins_enabled = cfg.chains_fd >= 0 ? 1 : 0;
  if (auto r = share_maps(s, main, {"targeted_jump"}); !r) {
    targeted_bpf__destroy(s);
    return r.error();
  }
  if (int err = targeted_bpf__load(s); err != 0) return fail("loading the targeted slots", -err);
  uint32_t zero = 0;
  if (bpf_map_update_elem(bpf_map__fd(s->maps.targeted_jump), &zero, &failure_fd, BPF_ANY))
    return fail("placing the failure program", errno);
  return s;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Result<void> GateTracer::add_syscalls(const std::vector<std::string>& syscalls) {
  if (mode_ != GateMode::Targeted) return make_error("not in targeted mode", EINVAL);
  auto t0 = std::chrono::steady_clock::now();
  auto fns = kernel_syscall_functions();
  if (!fns) return fns.error();
  spdlog::debug("targeted mode: the kernel's BTF read in {} ms", ms_since(t0));
  std::vector<std::string> names, functions;
  std::map<uint32_t, std::vector<std::string>> by_proto;
  for (const auto& e : entry_functions(syscalls, *fns)) {
    if (std::find(targeted_.syscalls.begin(), targeted_.syscalls.end(), e.syscall) != targeted_.syscalls.end())
      continue;
    if (e.functions.empty()) {
      if (std::find(targeted_.missing.begin(), targeted_.missing.end(), e.syscall) == targeted_.missing.end())
        targeted_.missing.push_back(e.syscall);
      continue;
    }
    names.push_back(e.syscall);
    functions.insert(functions.end(), e.functions.begin(), e.functions.end());
    for (const auto& f : e.functions) by_proto[fns->find(f)->second].push_back(f);
  }
  if (functions.empty()) {
    if (targeted_.syscalls.empty()) return make_error("the kernel's BTF names no entry function of these syscalls", ENOENT);
    return {};
  }
  std::vector<targeted_bpf*> objs;
  std::vector<gate_bpf*> failures;
  std::vector<bpf_link*> links;
  auto undo = [&] {
    for (bpf_link* l : links) bpf_link__destroy(l);
    for (targeted_bpf* o : objs) targeted_bpf__destroy(o);
    for (gate_bpf* f : failures) gate_bpf__destroy(f);
  };
  std::map<uint32_t, gate_bpf*> new_failures;
  for (const auto& [proto, group] : by_proto) {
    auto t1 = std::chrono::steady_clock::now();
    gate_bpf* failure = nullptr;
    if (auto it = failure_objs_.find(proto); it != failure_objs_.end()) {
      failure = it->second;
    } else {
      auto f = load_failure(skel_, cfg_, kernel_data_, group.front());
      if (!f) {
        undo();
        return f.error();
      }
      failure = *f;
      failures.push_back(failure);
      new_failures[proto] = failure;
    }
    const int failure_fd = bpf_program__fd(failure->progs.targeted_failure);
    for (std::size_t at = 0; at < group.size(); at += ENOSPCD_TARGETED_MAX) {
      std::vector<std::string> chunk(group.begin() + static_cast<std::ptrdiff_t>(at),
                                     group.begin() + static_cast<std::ptrdiff_t>(
                                                         std::min(group.size(), at + ENOSPCD_TARGETED_MAX)));
      auto o = load_slots(skel_, cfg_, chunk, failure_fd);
      if (!o) {
        undo();
        return o.error();
      }
      objs.push_back(*o);
      for (std::size_t i = 0; i < chunk.size(); i++) {
        std::string name = "targeted_" + std::to_string(i);
        bpf_link* l = bpf_program__attach(bpf_object__find_program_by_name((*o)->obj, name.c_str()));
        if (!l) {
          int err = errno;
          undo();
          return make_error("attaching fexit to " + chunk[i] + ": " + describe_errno(err), err);
        }
        links.push_back(l);
      }
    }
    spdlog::debug("targeted mode: {} entry functions of one prototype loaded and attached in {} ms", group.size(),
                  ms_since(t1));
  }
  int nrs_fd = bpf_map__fd(skel_->maps.targeted_nrs);
  for (const auto& n : names) {
    uint32_t nr = syscall_number(n).value_or(ENOSPCD_SYSCALL_MAX), one = 1;
    if (nr < ENOSPCD_SYSCALL_MAX) bpf_map_update_elem(nrs_fd, &nr, &one, BPF_ANY);
  }
  failure_objs_.insert(new_failures.begin(), new_failures.end());
  slot_objs_.insert(slot_objs_.end(), objs.begin(), objs.end());
  slot_links_.insert(slot_links_.end(), links.begin(), links.end());
  targeted_.prototypes = failure_objs_.size();
  targeted_.syscalls.insert(targeted_.syscalls.end(), names.begin(), names.end());
  targeted_.functions.insert(targeted_.functions.end(), functions.begin(), functions.end());
  return {};
}

Result<void> GateTracer::set_checking(bool on) {
  if (mode_ != GateMode::Targeted) return make_error("not in targeted mode", EINVAL);
  if (on == (check_link_ != nullptr)) return {};
  // The slots mark their failures while the check runs: on before it is attached, off after it is detached.
  uint32_t zero = 0, flag = on ? 1 : 0;
  int checking_fd = bpf_map__fd(skel_->maps.targeted_checking);
  if (!on) {
    bpf_link__destroy(check_link_);
    check_link_ = nullptr;
    bpf_map_update_elem(checking_fd, &zero, &flag, BPF_ANY);
  } else {
    if (bpf_map_update_elem(checking_fd, &zero, &flag, BPF_ANY))
      return make_error("switching the slots' marks on: " + describe_errno(errno), errno);
    check_link_ = bpf_program__attach(skel_->progs.targeted_check);
    if (!check_link_) {
      int err = errno;
      flag = 0;
      bpf_map_update_elem(checking_fd, &zero, &flag, BPF_ANY);
      return make_error("attaching the completeness check to sys_exit: " + describe_errno(err), err);
    }
  }
  targeted_.checking = on;
  return {};
}

std::vector<std::pair<uint32_t, uint64_t>> GateTracer::read_untargeted() const {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  if (mode_ != GateMode::Targeted) return out;
  int fd = bpf_map__fd(skel_->maps.untargeted);
  for (uint32_t nr = 0; nr < ENOSPCD_SYSCALL_MAX; nr++) {
    uint64_t v = 0;
    if (bpf_map_lookup_elem(fd, &nr, &v) == 0 && v) out.emplace_back(nr, v);
  }
  return out;
}

int GateTracer::on_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<GateTracer*>(ctx);
  if (self->handler_) self->handler_(data, size);
  self->consumed_++;
  // A negative return makes libbpf stop after this record, which it counts as consumed (ringbuf_process_ring
  // stores the consumer position before bailing out).
  if (self->consume_until_ && std::chrono::steady_clock::now() >= *self->consume_until_) return -EAGAIN;
  return 0;
}

Result<void> GateTracer::set_handler(Handler h) {
  handler_ = std::move(h);
  if (!ring_) {
    ring_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &GateTracer::on_record, this, nullptr);
    if (!ring_) return make_error(std::string("cannot map the ring buffer: ") + strerror(errno), errno);
  }
  return {};
}

void GateTracer::set_kernel_data(const KernelData& k) {
  kernel_data_ = complete_from_text(k);
  write_kernel_data(skel_, kernel_data_);
  for (auto& [proto, f] : failure_objs_) write_kernel_data(f, kernel_data_);
}

std::optional<std::vector<uint8_t>> GateTracer::peek(uint64_t addr, uint32_t n) {
  if (!skel_ || n == 0 || n > ENOSPCD_PEEK_MAX) return std::nullopt;
  int fd = bpf_program__fd(skel_->progs.peek_kernel);
  if (fd < 0) return std::nullopt;
  skel_->bss->peek_addr = addr;
  skel_->bss->peek_len = n;
  skel_->bss->peek_err = -1;
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  if (bpf_prog_test_run_opts(fd, &opts) != 0 || skel_->bss->peek_err != 0) return std::nullopt;
  const auto* buf = reinterpret_cast<const uint8_t*>(skel_->bss->peek_buf);
  return std::vector<uint8_t>(buf, buf + n);
}

namespace {
// A global the gate reads at a failure, where to look for it when kallsyms does not list it: the functions
// that load it, and the sysctl that shows its value (the candidate whose value is the sysctl's, alone, is it).
struct TextGlobal {
  const char* name;
  uint64_t KernelData::*field;
  const char* sysctl;
  uint8_t size;
  std::vector<const char*> readers;
};

const std::vector<TextGlobal>& text_globals() {
  static const std::vector<TextGlobal> g = {
      {"sysctl_mount_max", &KernelData::mount_max, "/proc/sys/fs/mount-max", 4, {"count_mounts"}},
      {"pty_limit", &KernelData::pty_limit, "/proc/sys/kernel/pty/max", 4, {"devpts_new_index"}},
      {"pty_reserve", &KernelData::pty_reserve, "/proc/sys/kernel/pty/reserve", 4, {"devpts_new_index"}},
      {"max_user_watches", &KernelData::max_user_watches, "/proc/sys/fs/epoll/max_user_watches", 8,
       {"ep_insert", "do_epoll_ctl"}},
  };
  return g;
}

constexpr uint64_t kReaderBytes = 2048;

std::optional<uint64_t> read_sysctl_number(const char* path) {
  std::ifstream in(path);
  uint64_t v = 0;
  if (!(in >> v)) return std::nullopt;
  return v;
}
}  // namespace

KernelData GateTracer::complete_from_text(KernelData k) {
  // The first 2 KiB of a reader (ep_insert() is inlined deep into do_epoll_ctl()), read once however many globals
  // it loads (devpts_new_index: pty_limit and pty_reserve): a load found past its end, in the next function, is
  // ruled out by the value check like any other.
  std::map<std::string, std::vector<uint8_t>, std::less<>> codes;
  auto code_of = [&](const char* fn, uint64_t addr) -> const std::vector<uint8_t>& {
    auto [it, fresh] = codes.try_emplace(fn);
    for (uint64_t off = 0; fresh && off < kReaderBytes; off += ENOSPCD_PEEK_MAX) {
      auto chunk = peek(addr + off, ENOSPCD_PEEK_MAX);
      if (!chunk) break;
      it->second.insert(it->second.end(), chunk->begin(), chunk->end());
    }
    return it->second;
  };
  for (const auto& g : text_globals()) {
    if (k.*g.field) continue;
    auto want = read_sysctl_number(g.sysctl);
    if (!want) continue;
    for (const char* fn : g.readers) {
      auto at = k.readers.find(fn);
      if (at == k.readers.end() || !at->second) continue;
      const std::vector<uint8_t>& code = code_of(fn, at->second);
      if (code.empty()) continue;
      std::vector<uint64_t> matches;
      for (const auto& load : global_loads(native_arch(), at->second, code.data(), code.size())) {
        if (load.size != g.size) continue;
        auto v = peek(load.addr, load.size);
        uint64_t value = 0;
        if (v) std::memcpy(&value, v->data(), load.size);  // little-endian on both architectures
        if (v && value == *want) matches.push_back(load.addr);
      }
      if (matches.size() != 1) continue;
      k.*g.field = matches.front();
      k.found_in_text.push_back(std::string(g.name) + ": in " + fn + "()'s code");
      spdlog::info("kallsyms lists no {}: found where {}() loads it (its value is {}'s)", g.name, fn, g.sysctl);
      break;
    }
  }
  return k;
}

KernelData read_kernel_data(FeatureProbe& probe) {
  KernelData k;
  for (const auto& g : text_globals())
    for (const char* fn : g.readers)
      if (uint64_t a = probe.kernel_text_address(fn)) k.readers.emplace(fn, a);
  k.mount_max = probe.kernel_data_symbol("sysctl_mount_max");
  k.per_cpu_offset = probe.kernel_data_symbol("__per_cpu_offset");
  k.pty_count = probe.kernel_data_symbol("pty_count");
  k.pty_limit = probe.kernel_data_symbol("pty_limit");
  k.pty_reserve = probe.kernel_data_symbol("pty_reserve");
  k.max_user_watches = probe.kernel_data_symbol("max_user_watches");
  return k;
}

int GateTracer::ring_epoll_fd() const { return ring_ ? ring_buffer__epoll_fd(ring_) : -1; }
int GateTracer::poll(int timeout_ms) { return ring_ ? ring_buffer__poll(ring_, timeout_ms) : -EINVAL; }
int GateTracer::consume() { return ring_ ? ring_buffer__consume(ring_) : -EINVAL; }

int GateTracer::consume_for(std::chrono::steady_clock::duration budget, bool* more) {
  if (more) *more = false;
  if (!ring_) return -EINVAL;
  // ring_buffer__consume() alone loops until the ring is empty, which a storm can put off indefinitely.
  consume_until_ = std::chrono::steady_clock::now() + budget;
  consumed_ = 0;
  int n = ring_buffer__consume(ring_);
  consume_until_.reset();
  if (n != -EAGAIN) return n;
  if (more) *more = true;
  return consumed_;
}

std::vector<CountEntry> GateTracer::read_counts() const {
  std::vector<CountEntry> out;
  int fd = bpf_map__fd(skel_->maps.counts);
  enospcd_count_key key{}, next{};
  enospcd_count_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    CountEntry e{};
    e.key = next;
    if (bpf_map_lookup_elem(fd, &next, &e.val) == 0) out.push_back(e);
    key = next;
    prev = &key;
  }
  return out;
}

bool GateTracer::delete_count(const enospcd_count_key& key) {
  return bpf_map_delete_elem(bpf_map__fd(skel_->maps.counts), &key) == 0;
}

std::array<uint64_t, ENOSPCD_LOSS_MAX> GateTracer::read_losses() const {
  std::array<uint64_t, ENOSPCD_LOSS_MAX> out{};
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return out;
  std::vector<uint64_t> vals(static_cast<std::size_t>(ncpu));
  int fd = bpf_map__fd(skel_->maps.losses);
  for (uint32_t i = 0; i < ENOSPCD_LOSS_MAX; i++) {
    if (bpf_map_lookup_elem(fd, &i, vals.data()) != 0) continue;
    for (uint64_t v : vals) out[i] += v;
  }
  return out;
}

int GateTracer::chains_fd() const { return bpf_map__fd(skel_->maps.chains); }
int GateTracer::chain_pending_fd() const { return bpf_map__fd(skel_->maps.chain_pending); }
int GateTracer::losses_fd() const { return bpf_map__fd(skel_->maps.losses); }
int GateTracer::path_args_fd() const { return bpf_map__fd(skel_->maps.path_args); }

}  // namespace enospcd
