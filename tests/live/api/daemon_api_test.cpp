// The real daemon's API against real failures: docs/api.md checked against its answers, ids that survive a
// JSON reader holding numbers as doubles (node), and a reset that a restart does not undo.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/live.h"

namespace enospcd::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Answer {
  int status = 0;
  std::string body;
};

class RealDaemon {
 public:
  RealDaemon() : sock_(dir_.path() + "/run/enospcd.sock"), state_(dir_.path() + "/state") {}
  ~RealDaemon() {
    if (proc_) proc_->stop(SIGTERM);
  }

  bool start() {
    proc_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{daemon_binary(), "--socket", sock_, "--state-dir", state_, "--group", ""});
    if (!proc_->wait_ready()) return false;
    for (int i = 0; i < 200; i++) {
      if (access(sock_.c_str(), F_OK) == 0) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  std::optional<int> stop() {
    auto r = proc_->stop(SIGTERM);
    proc_.reset();
    return r;
  }
  std::string log() { return proc_ ? proc_->stderr_text() : ""; }

  // method + target (path and query), optionally with a body; the status and body of the answer.
  Answer request(const std::string& method, const std::string& target, const std::string& body_file = "") const {
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "20", "--unix-socket", sock_, "-X", method,
                                  "-w", "\n%{http_code}"};
    if (!body_file.empty()) argv.insert(argv.end(), {"--data-binary", "@" + body_file});
    argv.push_back("http://localhost" + target);
    CmdResult r = run(argv);
    Answer a;
    size_t nl = r.out.rfind('\n');
    if (nl != std::string::npos) {
      a.status = std::atoi(r.out.c_str() + nl + 1);
      a.body = r.out.substr(0, nl);
    }
    return a;
  }
  json get(const std::string& target) const {
    Answer a = request("GET", target);
    json j = json::parse(a.body, nullptr, false);
    if (j.is_discarded()) ADD_FAILURE() << "GET " << target << " is not JSON: " << a.body;
    return j;
  }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  std::string sock_, state_;
  std::unique_ptr<DaemonProcess> proc_;
};

// openat(2) failures with ENOSPC on a tmpfs of 4 inodes, by a shell that stays alive until the daemon lists them
// (at most 20 s), so that it reads the shell's exe and cmdline however slowly it runs (a sanitizer build on a
// loaded machine).
void fill_tmpfs(RealDaemon& d, const TmpfsMount& mnt, int failures) {
  const std::string stop = d.dir() + "/filled";
  std::string cmd = "for i in $(seq 1 " + std::to_string(3 + failures) + "); do : > " + mnt.path() +
                    "/obj$i.o; done 2>/dev/null; for j in $(seq 1 200); do [ -e " + stop + " ] && break; sleep 0.1; done";
  std::thread shell([cmd] { run({"bash", "-c", cmd}); });
  for (int i = 0; i < 100; i++) {
    if (d.get("/v1/events?syscall=openat&cause=tmpfs_inodes")["events"].size() >= static_cast<size_t>(failures)) break;
    std::this_thread::sleep_for(100ms);
  }
  std::ofstream(stop) << "";
  shell.join();
}

std::string json_kind(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "boolean";
  if (j.is_number()) return "number";
  if (j.is_string()) return "string";
  if (j.is_array()) return "array";
  return "object";
}

// Members and types of `doc` against `real`, recursively (to `depth` levels; -1: all). A cause's evidence is
// compared as an object only, as its members depend on the cause. Arrays: element i against element i.
void compare_shape(const json& doc, const json& real, const std::string& where, int depth,
                   std::vector<std::string>* diffs) {
  if (json_kind(doc) != json_kind(real)) {
    diffs->push_back(where + ": the document shows " + json_kind(doc) + ", the daemon answers " + json_kind(real));
    return;
  }
  if (depth == 0) return;
  if (doc.is_object()) {
    for (const auto& [k, v] : doc.items())
      if (!real.contains(k)) diffs->push_back(where + "." + k + ": in the document, not in the daemon's answer");
    for (const auto& [k, v] : real.items()) {
      if (!doc.contains(k)) {
        diffs->push_back(where + "." + k + ": in the daemon's answer, not in the document");
        continue;
      }
      if (k == "evidence") continue;
      compare_shape(doc[k], v, where + "." + k, depth - 1, diffs);
    }
  } else if (doc.is_array()) {
    if (!doc.empty() && real.empty()) diffs->push_back(where + ": the document shows elements, the daemon none");
    for (size_t i = 0; i < doc.size() && i < real.size(); i++)
      compare_shape(doc[i], real[i], where + "[" + std::to_string(i) + "]", depth - 1, diffs);
  }
}

struct Marked {
  std::string kind;    // api-example or api-error
  std::string method;  // GET, POST, ...
  std::string target;  // path and query as written
  std::string note;    // the rest of the marker, e.g. "(top level)"
  std::string block;   // the ```json block after the marker
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<Marked> marked_blocks(const std::string& doc) {
  std::vector<Marked> out;
  std::regex marker(R"(<!-- (api-example|api-error): (\S+) (\S+)([^>]*?) -->\n```json\n([\s\S]*?)\n```)");
  for (std::sregex_iterator it(doc.begin(), doc.end(), marker), end; it != end; ++it)
    out.push_back({(*it)[1], (*it)[2], (*it)[3], (*it)[4], (*it)[5]});
  return out;
}

// The error text as a pattern: numbers may differ (ids, counts), the words may not.
std::regex message_pattern(const std::string& text) {
  std::string re;
  for (size_t i = 0; i < text.size();) {
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
      re += "\\d+";
      continue;
    }
    if (std::string_view("\\^$.|?*+()[]{}").find(text[i]) != std::string_view::npos) re += '\\';
    re += text[i++];
  }
  return std::regex(re);
}

std::set<std::string> listed_after(const std::string& text, const std::string& opener) {
  std::set<std::string> out;
  size_t at = text.find(opener);
  if (at == std::string::npos) return out;
  size_t close = text.find(')', at);
  std::stringstream items(text.substr(at + opener.size(), close - at - opener.size()));
  for (std::string item; std::getline(items, item, ',');) {
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    out.insert(item);
  }
  return out;
}

std::set<std::string> backticked(const std::string& cell) {
  std::set<std::string> out;
  std::regex tick("`([^`]+)`");
  for (std::sregex_iterator it(cell.begin(), cell.end(), tick), end; it != end; ++it) out.insert((*it)[1]);
  return out;
}

TEST(DaemonApi, DocumentationMatchesTheDaemon) {
  ENOSPCD_REQUIRE_ROOT();
  const std::string doc = read_file(std::string(ENOSPCD_SOURCE_DIR) + "/docs/api.md");
  ASSERT_FALSE(doc.empty());
  RealDaemon d;
  ASSERT_TRUE(d.start()) << d.log();
  TmpfsMount mnt("nr_inodes=4,size=64k");
  ASSERT_TRUE(mnt.ok());
  fill_tmpfs(d, mnt, 4);
  std::this_thread::sleep_for(500ms);

  json events = d.get("/v1/events?limit=1&syscall=openat&cause=tmpfs_inodes");
  ASSERT_EQ(events["events"].size(), 1u) << events.dump();
  const std::string id = events["events"][0]["id"];

  auto blocks = marked_blocks(doc);
  std::set<std::string> examples;
  for (const auto& b : blocks) {
    SCOPED_TRACE(b.kind + ": " + b.method + " " + b.target + b.note);
    json want = json::parse(b.block, nullptr, false);
    ASSERT_FALSE(want.is_discarded()) << "not JSON:\n" << b.block;
    std::string target = std::regex_replace(b.target, std::regex(R"(\{id\})"), id);
    target = std::regex_replace(target, std::regex(R"(\{ambiguous\})"), id.substr(0, 4));
    std::string body_file;
    if (b.note.find("5000-byte body") != std::string::npos) {
      body_file = d.dir() + "/body";
      std::ofstream(body_file) << std::string(5000, 'x');
    }
    Answer a = d.request(b.method, target, body_file);
    json got = json::parse(a.body, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << "the daemon's answer is not JSON: " << a.body;
    if (b.kind == "api-example") {
      examples.insert(b.method + " " + b.target);
      EXPECT_EQ(a.status, 200) << a.body;
      std::vector<std::string> diffs;
      compare_shape(want, got, "$", b.note.find("top level") != std::string::npos ? 1 : -1, &diffs);
      for (const auto& diff : diffs) ADD_FAILURE() << diff;
    } else {
      EXPECT_EQ(a.status, want["status"].get<int>()) << a.body;
      EXPECT_EQ(got["status"], want["status"]);
      std::string doc_msg = want["error"], real_msg = got.value("error", "");
      if (b.target.find("{ambiguous}") != std::string::npos) {
        // Which ids share the prefix, and how many, depends on the moment.
        doc_msg = doc_msg.substr(0, doc_msg.find(" ambiguous:"));
        real_msg = real_msg.substr(0, real_msg.find(" ambiguous:"));
        doc_msg = std::regex_replace(doc_msg, std::regex("7357"), id.substr(0, 4));
      }
      EXPECT_TRUE(std::regex_match(real_msg, message_pattern(doc_msg)))
          << "document: " << doc_msg << "\ndaemon:   " << real_msg;
    }
  }

  // Every endpoint has a heading and a checked JSON example, and no other heading exists.
  json notfound = d.get("/v1/nope");
  std::set<std::string> endpoints = listed_after(notfound["error"], "(endpoints: ");
  ASSERT_GE(endpoints.size(), 9u) << notfound.dump();
  std::set<std::string> headings;
  std::regex heading(R"(\n### (GET|POST) (\S+)\n)");
  for (std::sregex_iterator it(doc.begin(), doc.end(), heading), end; it != end; ++it) headings.insert((*it)[2]);
  EXPECT_EQ(headings, endpoints);
  for (const auto& e : endpoints) {
    if (e == "/metrics") continue;  // text, not JSON
    std::string method = e == "/v1/reset" ? "POST" : "GET";
    bool found = false;
    for (const auto& ex : examples) found = found || ex.rfind(method + " " + e, 0) == 0;
    EXPECT_TRUE(found) << "no checked JSON example for " << method << " " << e;
  }

  // The parameter table says which endpoint takes which parameter; the daemon's 400 lists what it accepts.
  std::map<std::string, std::set<std::string>> documented;
  size_t table = doc.find("| Parameter | Value | Where |");
  ASSERT_NE(table, std::string::npos);
  std::stringstream rows(doc.substr(table, doc.find("\n\n", table) - table));
  std::string row;
  std::getline(rows, row);
  std::getline(rows, row);
  while (std::getline(rows, row)) {
    size_t first = row.find('|', 1), last = row.rfind('|', row.size() - 2);
    for (const auto& where : backticked(row.substr(last)))
      for (const auto& p : backticked(row.substr(1, first - 1))) documented[where].insert(p);
  }
  for (const auto& e : endpoints) {
    if (e == "/healthz" || e == "/metrics") continue;
    std::string target = std::regex_replace(e, std::regex(R"(\{id\})"), id) + "?colour=blue";
    Answer a = d.request(e == "/v1/reset" ? "POST" : "GET", target);
    EXPECT_EQ(a.status, 400) << e << ": " << a.body;
    json j = json::parse(a.body, nullptr, false);
    EXPECT_EQ(documented[e], listed_after(j.value("error", ""), "(accepted: ")) << e;
  }

  // Every metric named in the document is served, and every served one is documented.
  Answer metrics = d.request("GET", "/metrics");
  std::set<std::string> served, named;
  std::regex type_line(R"(# TYPE (\S+) )");
  for (std::sregex_iterator it(metrics.body.begin(), metrics.body.end(), type_line), end; it != end; ++it)
    served.insert((*it)[1]);
  std::regex metric_name(R"(enospcd_[a-z_]*[a-z])");
  for (std::sregex_iterator it(doc.begin(), doc.end(), metric_name), end; it != end; ++it) named.insert((*it)[0]);
  named.erase("enospcd_api");  // the C++ namespace in the embedding section
  EXPECT_GE(served.size(), 10u) << metrics.body;
  EXPECT_EQ(named, served);
}

TEST(DaemonApi, IdsSurviveADoubleBasedJsonReader) {
  ENOSPCD_REQUIRE_ROOT();
  if (run({"node", "--version"}).exit_code != 0) GTEST_SKIP() << "node is not installed";
  RealDaemon d;
  ASSERT_TRUE(d.start()) << d.log();
  TmpfsMount mnt("nr_inodes=4,size=64k");
  ASSERT_TRUE(mnt.ok());
  fill_tmpfs(d, mnt, 5);
  std::this_thread::sleep_for(500ms);

  // What JavaScript reads from the daemon's answers, with JSON.parse (numbers are doubles there).
  std::string list = d.request("GET", "/v1/events?limit=10000").body;
  std::string diag = d.request("GET", "/v1/diagnosis").body;
  std::ofstream(d.dir() + "/events.json") << list;
  std::ofstream(d.dir() + "/diagnosis.json") << diag;
  CmdResult js = run({"node", "-e",
                      "const fs = require('fs');"
                      "const ev = JSON.parse(fs.readFileSync(process.argv[1], 'utf8')).events;"
                      "const dg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')).causes;"
                      "for (const e of ev) console.log('event', e.id, e.time_ns);"
                      "for (const c of dg) console.log('latest', c.latest_event);",
                      d.dir() + "/events.json", d.dir() + "/diagnosis.json"});
  ASSERT_EQ(js.exit_code, 0) << js.out;

  json events = json::parse(list);
  std::stringstream lines(js.out);
  std::string kind, id, time_ns;
  size_t seen_events = 0, seen_latest = 0;
  while (lines >> kind) {
    if (kind == "event") {
      lines >> id >> time_ns;
      ASSERT_LT(seen_events, events["events"].size());
      const json& e = events["events"][seen_events++];
      EXPECT_EQ(id, e["id"].get<std::string>());
      EXPECT_EQ(time_ns, e["time_ns"].get<std::string>());
    } else {
      lines >> id;
      seen_latest++;
    }
    // The id as JavaScript has it finds the event.
    Answer a = d.request("GET", "/v1/events/" + id);
    ASSERT_EQ(a.status, 200) << id << ": " << a.body;
    EXPECT_EQ(json::parse(a.body)["id"], id);
  }
  EXPECT_EQ(seen_events, events["events"].size());
  EXPECT_GE(seen_events, 5u);
  EXPECT_GE(seen_latest, 1u);
  // jq, which holds numbers as doubles too.
  if (run({"jq", "--version"}).exit_code == 0) {
    CmdResult jq = run({"jq", "-r", ".events[0].id", d.dir() + "/events.json"});
    EXPECT_EQ(jq.out, events["events"][0]["id"].get<std::string>() + "\n");
  }
}

TEST(DaemonApi, ResetForgetsEverythingAndARestartDoesNotBringItBack) {
  ENOSPCD_REQUIRE_ROOT();
  RealDaemon d;
  ASSERT_TRUE(d.start()) << d.log();
  TmpfsMount mnt("nr_inodes=4,size=64k");
  ASSERT_TRUE(mnt.ok());
  fill_tmpfs(d, mnt, 3);
  std::this_thread::sleep_for(1500ms);  // in the journal, and in its snapshot
  ASSERT_FALSE(d.get("/v1/top")["top"].empty());
  ASSERT_FALSE(d.get("/v1/events")["events"].empty());
  ASSERT_FALSE(d.get("/v1/diagnosis")["causes"].empty());

  Answer reset = d.request("POST", "/v1/reset");
  ASSERT_EQ(reset.status, 200) << reset.body;
  auto expect_empty = [&](const char* when) {
    SCOPED_TRACE(when);
    // Failures of other processes on the host may arrive at any time: only those after the reset count.
    EXPECT_EQ(d.get("/v1/top?comm=bash")["top"], json::array());
    EXPECT_EQ(d.get("/v1/events?comm=bash")["events"], json::array());
    EXPECT_EQ(d.get("/v1/top?cause=tmpfs_inodes")["top"], json::array());
    // The answer is held: a range-for over a member of a temporary would iterate freed memory.
    json diagnosis = d.get("/v1/diagnosis");
    for (const auto& c : diagnosis["causes"])
      EXPECT_EQ(c["latest"].dump().find(mnt.path()), std::string::npos) << c.dump();
    json st = d.get("/v1/status");
    json top = d.get("/v1/top?limit=10000");
    uint64_t counted = 0;
    for (const auto& r : top["top"]) counted += r["count"].get<uint64_t>();
    EXPECT_EQ(st["counters"]["failures_counted"].get<uint64_t>(), counted);
  };
  expect_empty("right after the reset");
  std::this_thread::sleep_for(1500ms);  // a snapshot is written every second
  ASSERT_EQ(d.stop(), 0);
  ASSERT_TRUE(d.start()) << d.log();
  expect_empty("after a restart on the same state directory");
}

}  // namespace
}  // namespace enospcd::testing
