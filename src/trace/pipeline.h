// The event pipeline: a ring-buffer record becomes a stored event in four stages, each in one place and each
// behind a small interface so the whole path runs in unit tests without BPF or root:
//
//   decode     bytes -> Event, every length bounded                    (model/event.h: decode_event)
//   symbolize  kernel stack addresses -> "func+0xoff", tracer frames dropped       (Symbolizer)
//   enrich     executable, command line and cgroup of the process while it lives   (ProcessReader)
//              -> the container, cached by cgroup id past the container's end     (ContainerCache)
//   diagnose   the cause, from the event's BPF evidence and host state             (diagnose::HostFacts)
//
// Storing and journaling the result is the caller's (the daemon's) step.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "context/container.h"
#include "diagnose/diagnose.h"
#include "model/event.h"
#include "trace/symbolizer.h"

namespace enospcd {

// What /proc shows of a process while it exists; empty fields once it is gone.
struct ProcessInfo {
  std::string exe;
  std::string cmdline;      // arguments joined by spaces
  std::string cgroup_path;  // the unified hierarchy's path (the name=systemd one on a v1-only host)
};

class ProcessReader {
 public:
  virtual ~ProcessReader() = default;
  virtual ProcessInfo read(uint32_t pid) = 0;
};

// /proc under root (context/procfs readers).
std::unique_ptr<ProcessReader> make_proc_reader(std::string root = "/");

// cgroup id -> container. The attribution outlives the container: a failed start stays attributable after
// its cgroup is removed. Entries not seen for 15 minutes expire once the cache is large; it is bounded.
namespace context {
class WorkloadNames;
}

class ContainerCache {
 public:
  // names: where container, pod and namespace names come from (none: ids only).
  explicit ContainerCache(context::WorkloadNames* names = nullptr) : names_(names) {}

  // Best first: the full cgroup path read while the process lived, then the cache, then the leaf name BPF
  // recorded at the failure. nullopt when none names a container.
  std::optional<ContainerRef> resolve(const Event& e);
  // The container last resolved for a cgroup id (for counter rows, which carry no event); nullopt when unknown.
  std::optional<ContainerRef> find(uint64_t cgroup_id) const;

 private:
  struct Entry {
    std::optional<ContainerRef> container;
    std::chrono::steady_clock::time_point seen;
  };
  ContainerRef named(ContainerRef ref) const;

  context::WorkloadNames* names_;
  mutable std::mutex mu_;
  std::map<uint64_t, Entry> entries_;
};

class EventPipeline {
 public:
  EventPipeline(const Symbolizer& symbols, ProcessReader& procs, ContainerCache& containers,
                diagnose::HostFacts& facts)
      : symbols_(symbols), procs_(procs), containers_(containers), facts_(facts) {}

  // decode -> symbolize -> enrich -> diagnose. nullopt for a record that is not a well-formed failure
  // (counted as malformed). An event whose enrichment or diagnosis throws is kept with what BPF recorded and
  // no cause, and counted as unexplained.
  std::optional<Event> process(const void* data, std::size_t size, int64_t realtime_offset_ns,
                               const std::vector<std::string>& origin_names);

  uint64_t records() const { return records_.load(); }
  uint64_t malformed() const { return malformed_.load(); }
  uint64_t unexplained() const { return unexplained_.load(); }

 private:
  void symbolize(Event& e) const;
  std::vector<std::string> frames_of(const std::vector<uint64_t>& addrs) const;
  void enrich(Event& e);

  const Symbolizer& symbols_;
  ProcessReader& procs_;
  ContainerCache& containers_;
  diagnose::HostFacts& facts_;
  std::atomic<uint64_t> records_{0}, malformed_{0}, unexplained_{0};
};

}  // namespace enospcd
