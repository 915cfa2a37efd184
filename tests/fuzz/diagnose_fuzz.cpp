// libFuzzer target over the diagnosis (src/diagnose/diagnose.cpp): an arbitrary event (syscall, errno, file
// evidence, namespaces, limits read in BPF, a chain of origin functions) against an arbitrary host (every
// HostFacts answer: filesystems and their statfs numbers and mount options, sysctls, the process that views a
// mount namespace, notify counts, mount sources). Layout of the input: diagnose_input.h.
//
// Checked on every input: diagnose() returns (no exception, no crash), the cause is one of cause_ids() with a
// known confidence, a summary and a remedy; EDQUOT is always a quota cause; when the chain holds an origin of
// the diagnosis's table, the first such origin is the cause's evidence; the cause serializes to JSON.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/diagnose_input.h"
#include "model/origins.h"

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

// An origin of the table the daemon attaches (model/origins.h) that points at a cause. The fuzzer finds names
// beyond the ones the input layout offers (inotify_update_watch, from the binary's own strings).
bool is_origin(const std::string& func) {
  const Origin* o = find_origin(func);
  return o && cause_from_name(o->cause).has_value();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  fuzz::Reader reader(provider);
  fuzz::DiagnoseScenario s;
  fuzz::visit(reader, s);
  fuzz::ScenarioFacts facts(s);
  const Event& e = s.event;

  Cause c = diagnose::diagnose(e, facts);

  const auto& ids = all_causes();
  check(std::find(ids.begin(), ids.end(), c.id) != ids.end(), "cause id is one of all_causes()");
  check(c.confidence == Confidence::High || c.confidence == Confidence::Medium || c.confidence == Confidence::Low,
        "confidence is high/medium/low");
  check(!c.summary.empty() && !c.remedy.empty(), "summary and remedy are set");
  check(to_json(c)["evidence"].is_object(), "evidence is an object");
  if (e.errno_name == "EDQUOT") {
    check(c.id == CauseId::Quota, "EDQUOT is a quota cause");
  } else {
    for (const auto& link : e.chain) {
      if (!is_origin(link.func)) continue;
      check(c.evidence.origin == link.func, "the innermost known origin is the evidence");
      check(c.evidence.chain && c.evidence.chain->size() == e.chain.size(), "the chain is the evidence");
      break;
    }
  }

  check(dump(to_json(c)).size() > 2, "cause serializes");
  const auto back = cause_from_json(to_json(c));
  check(back.has_value(), "cause reads back");
  check(back && *back == c, "cause reads back as it was");
  return 0;
}
