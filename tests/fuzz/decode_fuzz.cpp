// libFuzzer target over the decoding of ring-buffer records (decode_event() in src/trace/event.cpp) and the
// event's JSON (to_json, event_from_json). Layout of the input: decode_input.h.
//
// Checked on every input: a record is accepted exactly when it is long enough and its header names a failure
// record of the right size; an accepted event carries the record's fields (strings cut at their terminator
// or their array's end, chains and stacks within their bounds, optional parts exactly when their flag is
// set); its JSON, as the daemon writes it, parses back, and reading that JSON and writing it again gives the
// same JSON.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/strings.h"
#include "fuzz/decode_input.h"
#include "model/event.h"

namespace {

using namespace enospcd;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// The serialization the daemon uses for everything it writes (API, journal, report): bytes that are not
// UTF-8 (comm, paths) become U+FFFD.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void check_fields(const enospcd_event& raw, const Event& e) {
  check(e.ktime_ns == raw.hdr.ktime_ns && e.pid == raw.pid && e.tid == raw.tid && e.ppid == raw.ppid &&
            e.uid == raw.uid && e.gid == raw.gid && e.syscall_nr == raw.syscall_nr && e.ret == raw.ret &&
            e.cgroup_id == raw.cgroup_id,
        "numbers are the record's");
  check(e.comm == fixed_string(raw.comm) && e.comm.size() <= ENOSPCD_COMM_LEN, "comm is the record's");
  check(e.path.size() <= ENOSPCD_PATH_LEN && e.path2.size() <= ENOSPCD_PATH_LEN, "paths within their arrays");
  check(e.cgroup_name.size() <= ENOSPCD_CGNAME_LEN, "cgroup name within its array");
  check(!e.syscall.empty() && !e.errno_name.empty(), "syscall and errno are named");
  check(e.file.has_value() == bool(raw.flags & ENOSPCD_EF_HAS_FILE), "file exactly with its flag");
  check(e.ipc.has_value() == bool(raw.flags & ENOSPCD_EF_HAS_IPCNS), "IPC limits exactly with their flag");
  check(e.userns.has_value() == bool(raw.flags & ENOSPCD_EF_HAS_USERNS) &&
            e.userns_max_mnt.has_value() == e.userns.has_value(),
        "user namespace exactly with its flag");
  check(e.mount_max.has_value() == bool(raw.flags & ENOSPCD_EF_HAS_MOUNT_MAX), "mount-max exactly with its flag");
  if (!e.args_valid)
    for (uint64_t a : e.args) check(a == 0, "no arguments without their flag");
  if (e.file) {
    check(e.file->fstype.size() <= ENOSPCD_FSTYPE_LEN && e.file->name.size() <= ENOSPCD_FNAME_LEN,
          "file strings within their arrays");
  }
  size_t chain_len = raw.chain_len < ENOSPCD_CHAIN_MAX ? raw.chain_len : ENOSPCD_CHAIN_MAX;
  check(e.chain.size() == chain_len, "chain length within bounds");
  const auto& names = fuzz::origin_names();
  for (size_t i = 0; i < e.chain.size(); i++) {
    uint32_t id = raw.chain[i].origin_id;
    check(e.chain[i].func == (id < names.size() ? names[id] : "origin_" + std::to_string(id)), "chain names");
    check(e.chain[i].ret == raw.chain[i].ret, "chain returns");
  }
  check(e.kstack_addrs.size() <= ENOSPCD_STACK_MAX && e.kstack_addrs.size() <= raw.stack_len, "stack within bounds");
  for (uint64_t a : e.kstack_addrs) check(a != 0, "no null stack addresses");
}

void check_json(const Event& e) {
  auto written = nlohmann::json::parse(dump(to_json(e)), nullptr, false);
  check(!written.is_discarded() && written.is_object(), "event JSON parses back");
  check(to_json(event_from_json(written)) == written, "event JSON reads back to the same JSON");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t control = data[0];
  std::vector<uint8_t> record(data + 1, data + size);
  if (fuzz::patches_header(control) && record.size() >= sizeof(enospcd_hdr)) {
    enospcd_hdr hdr;
    std::memcpy(&hdr, record.data(), sizeof hdr);
    hdr.kind = ENOSPCD_KIND_SYSCALL_FAILURE;
    hdr.size = sizeof(enospcd_event);
    std::memcpy(record.data(), &hdr, sizeof hdr);
  }

  auto e = decode_event(record.data(), record.size(), fuzz::realtime_offset(control), fuzz::origin_names());

  enospcd_event raw{};
  bool whole = record.size() >= sizeof raw;
  if (whole) std::memcpy(&raw, record.data(), sizeof raw);
  bool valid = whole && raw.hdr.kind == ENOSPCD_KIND_SYSCALL_FAILURE && raw.hdr.size == sizeof raw;
  check(e.has_value() == valid, "accepted exactly when the header says so");
  if (!e) return 0;
  check_fields(raw, *e);
  check_json(*e);
  return 0;
}
