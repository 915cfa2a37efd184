// Where events go besides the API and the state journal: the log pipelines a fleet already runs.
//   journald   one structured entry per event (MESSAGE is the explanation; ENOSPCD_* fields carry the event,
//              ENOSPCD_JSON the whole of it), priority warning, so `journalctl -p warning` and any journald
//              forwarder take them as they are;
//   NDJSON     one JSON object per line in a file, rotated by size (file -> file.1 -> ... -> file.N), which
//              Fluent Bit's tail input, Vector's file source and the OpenTelemetry collector's filelog receiver
//              read without a parser of their own (docs/collectors.md).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace enospcd {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // One event, in the API's JSON form. Never throws; a sink that cannot write counts it and says so once.
  virtual void write(const nlohmann::json& event) = 0;
  virtual void reopen() {}
  virtual nlohmann::json status() const = 0;
};

// The journald fields of one event (without MESSAGE's and PRIORITY's), as "NAME=value" strings.
std::vector<std::string> journald_fields(const nlohmann::json& event);
std::unique_ptr<EventSink> make_journald_sink();

struct NdjsonFileOptions {
  std::string path;
  uint64_t max_bytes = 64ull << 20;  // rotate before a line would take the file past this
  unsigned keep = 5;                 // rotated files kept: path.1 .. path.keep
};
// Fails when the file cannot be opened for appending (its directory missing or not writable).
Result<std::unique_ptr<EventSink>> make_ndjson_sink(const NdjsonFileOptions& o);

}  // namespace enospcd
