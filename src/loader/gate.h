// The syscall gate: loads gate.bpf.o through its skeleton, walks the attach ladder tp_btf -> raw_tp -> tp,
// and gives access to the ring buffer, the exact counters and the loss counters.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "enospcd/abi.h"
#include "loader/feature_probe.h"
#include "model/counter_book.h"

struct gate_bpf;
struct targeted_bpf;
struct ring_buffer;
struct bpf_link;

namespace enospcd {

enum class GateMode {
  Auto = 0,
  TpBtf = ENOSPCD_GATE_TP_BTF,
  RawTp = ENOSPCD_GATE_RAW_TP,
  Tp = ENOSPCD_GATE_TP,
  Targeted = ENOSPCD_GATE_TARGETED,
};

std::string gate_mode_name(GateMode m);
Result<GateMode> parse_gate_mode(const std::string& s);

// Kernel data the gate reads at a failure, by address from /proc/kallsyms (0 when unknown: a kernel without
// CONFIG_KALLSYMS_ALL lists no data symbols).
struct KernelData {
  uint64_t mount_max = 0;       // &sysctl_mount_max: fs.mount-max as it was
  uint64_t per_cpu_offset = 0;  // __per_cpu_offset[]: per-CPU counters summed before v5.19
  // ptys open on the host and kernel.pty.max and kernel.pty.reserve as they were
  uint64_t pty_count = 0, pty_limit = 0, pty_reserve = 0;
  uint64_t max_user_watches = 0;  // fs.epoll.max_user_watches as it was
  // Text addresses of the functions that read those globals, where they are looked for when kallsyms lists no
  // data symbols (a kernel without KALLSYMS_ALL): GateTracer::set_kernel_data() decodes their code.
  std::map<std::string, uint64_t, std::less<>> readers;
  // How each global was found, for the log: "sysctl_mount_max: in count_mounts()'s code", ...
  std::vector<std::string> found_in_text;
};
KernelData read_kernel_data(FeatureProbe& probe);

struct GateConfig {
  std::vector<int> errnos{28};
  GateMode force_mode = GateMode::Auto;
  uint32_t self_tgid = 0;
  uint64_t rate_limit = 0;  // detailed events per second per key, 0 = unlimited
  uint64_t rate_burst = 0;
  uint32_t ringbuf_bytes = 4u << 20;
  uint32_t counter_entries = 16384;
  KernelData kernel_data;       // from kallsyms, when it was read before the gate loaded
  bool io_uring = false;        // load the io_uring completion program (set by start() after probing)
  // How Linux AIO completions (aio_complete_rw, no tracepoint) are traced: fentry where fexit works (the caller
  // knows from the origin probes), else a kprobe where kprobes exist (decided by start()), else not.
  enum class Aio { None, Fentry, Kprobe } aio = Aio::None;
  // Where the io_uring completion tracepoint does not record the request (5.10): its reads and writes are also
  // traced as they end (kiocb_done, the same way as AIO's completions), for their opcode and file.
  bool io_uring_rw = false;
  // Targeted mode: fexit works here (an origin probe is on it), and the syscalls to attach to (loader/targeted.h);
  // empty with the reason when the watched errnos have no derived set.
  bool fexit = false;
  std::vector<std::string> targeted_syscalls;
  std::string targeted_unavailable;
  // Maps shared with the origin probes (fds, -1 when the origins are not loaded).
  int chains_fd = -1, chain_pending_fd = -1, losses_fd = -1;
};

struct GateAttempt {
  GateMode mode;
  std::string error;  // empty when this rung is live
};

// The rungs start() tries, best first: the forced one alone, else targeted (where fexit works and the errnos have
// a syscall set), tp_btf (where the kernel has BTF), raw_tp and tp, less those disabled by --no-feature.
std::vector<GateMode> gate_ladder(const GateConfig& cfg, FeatureProbe& probe);

// Targeted mode's state: the syscalls whose entry functions carry a slot, and those that have none here.
struct TargetedState {
  std::vector<std::string> syscalls;   // attached, in the order they were added
  std::vector<std::string> functions;  // their entry functions (native and compat)
  std::vector<std::string> missing;    // in the set, but this kernel has no entry function by that name
  std::size_t prototypes = 0;          // entry-function prototypes: one failure program each
  bool checking = false;               // the completeness check is on sys_exit now
};

class GateTracer : public CounterSource {
 public:
  using Handler = std::function<void(const void* data, std::size_t size)>;

  // Opens, configures, loads and attaches. The error message is one sentence for the operator.
  static Result<std::unique_ptr<GateTracer>> start(const GateConfig& cfg, FeatureProbe& probe);
  ~GateTracer() override;
  GateTracer(const GateTracer&) = delete;
  GateTracer& operator=(const GateTracer&) = delete;

  GateMode mode() const { return mode_; }
  const std::vector<GateAttempt>& attempts() const { return attempts_; }
  std::chrono::microseconds attach_time() const { return attach_time_; }
  // io_uring completions: "attached", or "unavailable: <why>".
  const std::string& io_uring() const { return io_uring_; }
  // Linux AIO completions: "attached (fentry)", "attached (kprobe)", or "unavailable: <why>".
  const std::string& aio() const { return aio_; }

  // Ring buffer consumption: handler runs on the calling thread for every record.
  Result<void> set_handler(Handler h);
  // Settable while attached: kallsyms is read after attaching. Globals kallsyms does not list are looked for
  // in the code of the functions that read them (loader/text_refs.h), checked against the sysctl's value.
  void set_kernel_data(const KernelData& k);
  const KernelData& kernel_data() const { return kernel_data_; }
  // n (<= ENOSPCD_PEEK_MAX) bytes of kernel memory at addr, copied by the gate's peek_kernel program; nullopt
  // when it cannot run (BPF_PROG_TEST_RUN of raw tracepoint programs: v5.10) or the address does not read.
  std::optional<std::vector<uint8_t>> peek(uint64_t addr, uint32_t n);
  int ring_epoll_fd() const;
  int poll(int timeout_ms);     // returns records consumed, or -errno
  // Drains without waiting; returns the records consumed, or -errno.
  int consume();
  // The same, for about `budget` at most (the record in hand is finished): the caller gets control back during
  // a storm that refills the ring as fast as it is read. Sets *more when it stopped with records left.
  int consume_for(std::chrono::steady_clock::duration budget, bool* more = nullptr);

  // Targeted mode (mode() == Targeted): what is attached; adding syscalls loads and attaches their slots.
  const TargetedState& targeted() const { return targeted_; }
  Result<void> add_syscalls(const std::vector<std::string>& syscalls);
  // The completeness check on sys_exit, on or off.
  Result<void> set_checking(bool on);
  // Failures the check saw from syscalls no slot counts, by syscall number, since the start.
  std::vector<std::pair<uint32_t, uint64_t>> read_untargeted() const;

  std::vector<CountEntry> read_counts() const override;
  bool delete_count(const enospcd_count_key& key) override;
  std::array<uint64_t, ENOSPCD_LOSS_MAX> read_losses() const;

  int chains_fd() const;
  int chain_pending_fd() const;
  int losses_fd() const;
  int path_args_fd() const;

 private:
  GateTracer() = default;
  static int on_record(void* ctx, void* data, std::size_t size);
  void release_targeted();
  KernelData complete_from_text(KernelData k);

  gate_bpf* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  GateConfig cfg_;                       // as the live rung was loaded: slot objects get the same settings
  std::vector<targeted_bpf*> slot_objs_;  // targeted mode: objects holding the slots,
  std::map<uint32_t, gate_bpf*> failure_objs_;  // and the failure program for each prototype they have
  std::vector<struct bpf_link*> slot_links_;
  struct bpf_link* check_link_ = nullptr;
  TargetedState targeted_;
  KernelData kernel_data_;             // as last given: every object that carries the failure path reads it
  GateMode mode_ = GateMode::Auto;
  std::vector<GateAttempt> attempts_;
  std::chrono::microseconds attach_time_{0};
  std::string io_uring_;
  std::string aio_;
  Handler handler_;
  std::optional<std::chrono::steady_clock::time_point> consume_until_;  // of the consume_for() in progress
  int consumed_ = 0;
};

// Per-syscall path arguments for this architecture, keyed by syscall number.
std::vector<std::pair<uint32_t, enospcd_path_args>> path_arg_table();

}  // namespace enospcd
