#include "cli/format.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "api/query.h"
#include "common/printable.h"

namespace enospcd::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kNsPerSec = 1'000'000'000ULL;

const json& member(const json& obj, const char* key) {
  static const json null_value;
  if (!obj.is_object()) return null_value;
  auto it = obj.find(key);
  return it == obj.end() ? null_value : *it;
}

// Cut to `width` and padded to it.
std::string fit(const std::string& s, std::size_t width) { return pad(truncate(s, width), width); }

bool is_scalar(const json& j) { return !j.is_object() && !j.is_array(); }

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return s;
}

std::string number_text(const json& v) {
  if (v.is_number_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3f", v.get<double>());
    std::string s = buf;
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
  return v.dump();
}

std::string scalar_text(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_number()) return number_text(value);
  return "-";
}

// Table columns: the members of the rows, in order of first appearance.
Table table_of(const json& array) {
  std::vector<std::string> columns;
  for (const auto& row : array) {
    if (!row.is_object()) continue;
    for (const auto& [k, v] : row.items())
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
  }
  Table t;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    t.header.push_back(upper(columns[i]));
    t.shrinkable.push_back(i);
  }
  for (const auto& row : array) {
    std::vector<std::string> cells;
    for (const auto& c : columns) cells.push_back(cell(member(row, c.c_str())));
    t.rows.push_back(std::move(cells));
  }
  return t;
}

void indent_block(const std::string& block, int indent, std::string* out) {
  const std::string ind(static_cast<std::size_t>(indent), ' ');
  std::size_t start = 0;
  while (start < block.size()) {
    std::size_t nl = block.find('\n', start);
    if (nl == std::string::npos) nl = block.size();
    *out += ind + block.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
}

void render_into(const json& value, int indent, const Style& style, std::string* out) {
  const std::string ind(static_cast<std::size_t>(indent), ' ');
  if (is_scalar(value)) {
    *out += ind + printable(scalar_text(value)) + "\n";
    return;
  }
  if (value.is_array()) {
    bool objects =
        !value.empty() && std::all_of(value.begin(), value.end(), [](const json& e) { return e.is_object(); });
    if (objects) {
      std::size_t room = style.width > static_cast<std::size_t>(indent) ? style.width - static_cast<std::size_t>(indent)
                                                                        : 0;
      indent_block(table_of(value).render(style.width == 0 ? 0 : std::max<std::size_t>(room, 20)), indent, out);
    } else {
      for (const auto& e : value) render_into(e, indent, style, out);
    }
    return;
  }
  for (const auto& [k, v] : value.items()) {
    const std::string key = printable(k);
    if (is_scalar(v)) {
      *out += ind + key + ": " + printable(scalar_text(v)) + "\n";
    } else if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return is_scalar(e); })) {
      *out += ind + key + ": " + printable(cell(v)) + "\n";
    } else if (v.is_object() && v.empty()) {
      *out += ind + key + ": -\n";
    } else {
      *out += ind + key + ":\n";
      render_into(v, indent + 2, style, out);
    }
  }
}

std::string count_text(const json& v) {
  auto n = json_u64(v);
  return n ? std::to_string(*n) : "?";
}

std::string plural(uint64_t n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); }

}  // namespace

std::size_t terminal_width(int fd) {
  winsize ws{};
  if (::isatty(fd) && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* cols = std::getenv("COLUMNS"); cols != nullptr && *cols) {
    char* end = nullptr;
    long n = std::strtol(cols, &end, 10);
    if (end != nullptr && *end == '\0' && n > 0 && n < 100000) return static_cast<std::size_t>(n);
  }
  return 80;
}

std::string relative_time(uint64_t then_ns, uint64_t now_ns) {
  bool future = then_ns > now_ns;
  uint64_t secs = (future ? then_ns - now_ns : now_ns - then_ns) / kNsPerSec;
  if (secs == 0) return "just now";
  std::string amount;
  if (secs < 60)
    amount = std::to_string(secs) + "s";
  else if (secs < 3600)
    amount = std::to_string(secs / 60) + "m";
  else if (secs < 86400)
    amount = std::to_string(secs / 3600) + "h";
  else
    amount = std::to_string(secs / 86400) + "d";
  return future ? "in " + amount : amount + " ago";
}

std::string human_duration(double seconds) {
  if (!(seconds >= 0)) return "-";
  auto s = static_cast<uint64_t>(seconds);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s % 86400 / 3600) + "h";
}

std::string local_time(uint64_t ns) {
  time_t t = static_cast<time_t>(ns / kNsPerSec);
  tm local{};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

std::optional<uint64_t> json_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    if (i >= 0) return static_cast<uint64_t>(i);
    return std::nullopt;
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty() || s.size() > 20) return std::nullopt;
    uint64_t n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      auto d = static_cast<uint64_t>(c - '0');
      if (n > (UINT64_MAX - d) / 10) return std::nullopt;
      n = n * 10 + d;
    }
    return n;
  }
  return std::nullopt;
}

uint64_t event_time_ns(const json& event) {
  if (auto ns = json_u64(member(event, "time_ns")); ns && *ns > 0) return *ns;
  const json& t = member(event, "time");
  if (t.is_string()) {
    auto parsed = api::parse_time_ns(t.get<std::string>(), 0);
    if (parsed) return *parsed;
  }
  return 0;
}

std::string cell(const json& value) {
  if (value.is_object()) {
    std::string s;
    for (const auto& [k, v] : value.items()) {
      if (!is_scalar(v) || v.is_null()) continue;
      s += (s.empty() ? "" : ", ") + k + "=" + scalar_text(v);
    }
    return s.empty() ? "-" : s;
  }
  if (value.is_array()) {
    std::string s;
    std::size_t nested = 0;
    for (const auto& e : value) {
      if (!is_scalar(e)) {
        ++nested;
        continue;
      }
      s += (s.empty() ? "" : ", ") + scalar_text(e);
    }
    if (nested > 0) s += (s.empty() ? "" : ", ") + plural(nested, "entry", "entries");
    return s.empty() ? "-" : s;
  }
  return scalar_text(value);
}

std::string container_label(const json& c) {
  if (c.is_null()) return "-";
  if (c.is_string()) return cell(c);
  auto text = [&](const char* key) {
    const json& v = member(c, key);
    return v.is_string() ? v.get<std::string>() : std::string();
  };
  // Kubernetes: namespace/pod/container, as kubectl users name a workload.
  if (!text("pod").empty()) {
    std::string label = (text("namespace").empty() ? "" : text("namespace") + "/") + text("pod");
    return text("name").empty() ? label : label + "/" + text("name");
  }
  if (!text("name").empty()) return text("name");
  const json& id = member(c, "id");
  if (id.is_string()) return id.get<std::string>().substr(0, 12);
  return cell(c);
}

std::string cause_label(const json& cause) {
  if (cause.is_null()) return "-";
  if (cause.is_string()) return cell(cause);
  for (const char* key : {"id", "cause", "name"}) {
    const json& v = member(cause, key);
    if (v.is_string()) return v.get<std::string>();
  }
  return cell(cause);
}

std::string render_events(const json& answer, uint64_t now_ns, const Style& style) {
  // Cut first: PATH, COMM, CONTAINER (cause ids stay whole); left out first: TIME (AGE stays), then ERRNO.
  Table t{{"ID", "TIME", "AGE", "PID", "COMM", "SYSCALL", "ERRNO", "CONTAINER", "CAUSE", "PATH"}, {}, {9, 4, 7},
          {1, 6}};
  const json& events = member(answer, "events");
  if (events.is_array()) {
    for (const auto& e : events) {
      uint64_t ns = event_time_ns(e);
      t.rows.push_back({cell(member(e, "id")), ns ? local_time(ns) : "-", ns ? relative_time(ns, now_ns) : "-",
                        cell(member(e, "pid")), cell(member(e, "comm")), cell(member(e, "syscall")),
                        cell(member(e, "errno")), container_label(member(e, "container")),
                        cause_label(member(e, "cause")), cell(member(e, "path"))});
    }
  }
  if (t.rows.empty()) return "no events\n";
  return t.render(style.width);
}

std::string render_top(const json& answer, const Style& style) {
  const json& top = member(answer, "top");
  if (!top.is_array() || top.empty()) return "no failures recorded\n";
  // The documented columns first, then whatever else the daemon reports.
  std::vector<std::string> keys{"count", "pid", "comm", "syscall", "errno", "container"};
  for (const auto& row : top)
    if (row.is_object())
      for (const auto& [k, v] : row.items())
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  Table t;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    t.header.push_back(upper(keys[i]));
    if (keys[i] == "comm" || keys[i] == "container" || i >= 6) t.shrinkable.push_back(i);
    if (keys[i] == "cgroup_id" || keys[i] == "suppressed") t.droppable.push_back(i);
  }
  for (const auto& row : top) {
    std::vector<std::string> cells;
    for (const auto& k : keys)
      cells.push_back(k == "container" ? container_label(member(row, "container"))
                      : k == "cause"   ? cause_label(member(row, "cause"))
                                       : cell(member(row, k.c_str())));
    t.rows.push_back(std::move(cells));
  }
  return t.render(style.width);
}

std::string render_event(const json& e, uint64_t now_ns) {
  std::string out;
  auto field = [&](const std::string& label, const std::string& value) {
    out += pad(label + ":", 11) + printable(value) + "\n";
  };
  uint64_t ns = event_time_ns(e);
  field("event", cell(member(e, "id")));
  field("time", ns ? local_time(ns) + " (" + relative_time(ns, now_ns) + ")" : "-");
  std::string proc = cell(member(e, "comm")) + " pid " + cell(member(e, "pid"));
  if (!member(e, "tid").is_null() && member(e, "tid") != member(e, "pid")) proc += " tid " + cell(member(e, "tid"));
  if (!member(e, "uid").is_null()) proc += " uid " + cell(member(e, "uid"));
  field("process", proc);
  std::string call = cell(member(e, "syscall")) + " -> " + cell(member(e, "errno"));
  if (!member(e, "ret").is_null()) call += " (ret " + cell(member(e, "ret")) + ")";
  field("syscall", call);
  if (!member(e, "path").is_null()) field("path", cell(member(e, "path")));
  const json& c = member(e, "container");
  field("container", c.is_null() ? "- (host)" : container_label(c));
  // The kernel functions that returned the error, innermost first, then the callers out to the syscall entry.
  const json& chain = member(e, "chain");
  if (chain.is_array() && !chain.empty()) {
    std::string text;
    for (const auto& l : chain) {
      if (!text.empty()) text += " <- ";
      text += cell(member(l, "func"));
      const json& n = member(l, "returns");
      if (n.is_number_integer() && n.get<int64_t>() > 1) text += " (x" + cell(n) + ")";
    }
    const json& dropped = member(e, "chain_dropped");
    if (dropped.is_number_integer() && dropped.get<int64_t>() > 0)
      text += " (" + cell(dropped) + " links dropped between the innermost and outermost)";
    field("chain", text);
    const json& outer = member(e, "chain_outer");
    if (outer.is_array() && !outer.empty()) {
      std::string from;
      for (const auto& f : outer) from += (from.empty() ? "" : " <- ") + cell(f);
      if (member(e, "chain_outer_truncated").is_string()) from += " <- (stack cut short)";
      if (member(e, "chain_outer_scanned").is_boolean() && member(e, "chain_outer_scanned").get<bool>())
        from += " (return addresses found on the stack; one may be stale)";
      field("from", from);
    }
  }
  const json& cause = member(e, "cause");
  if (cause.is_null()) {
    field("cause", "- (not diagnosed)");
  } else {
    field("cause", cause_label(cause));
    if (cause.is_object()) {
      for (const char* key : {"summary", "explanation", "remedy"}) {
        const json& v = member(cause, key);
        if (v.is_string()) field(key, v.get<std::string>());
      }
    }
  }
  // Everything else the daemon knows (chain, stack, evidence, namespaces...), generically.
  static const char* const kShown[] = {"id",  "time",    "time_ns", "comm",  "pid",  "tid",          "uid",
                                       "syscall", "errno", "ret",  "path", "container", "chain", "chain_dropped",
                                       "chain_outer", "chain_outer_truncated"};
  json rest = json::object();
  for (const auto& [k, v] : e.items()) {
    if (std::find(std::begin(kShown), std::end(kShown), k) != std::end(kShown)) continue;
    if (k == "cause") {
      if (!v.is_object()) continue;
      json more = json::object();
      for (const auto& [ck, cv] : v.items())
        if (ck != "id" && ck != "summary" && ck != "explanation" && ck != "remedy") more[ck] = cv;
      if (!more.empty()) rest["cause details"] = more;
      continue;
    }
    rest[k] = v;
  }
  if (!rest.empty()) {
    out += "\n";
    render_into(rest, 0, Style{}, &out);
  }
  return out;
}

std::string render_status(const json& st, const Style& style) {
  if (!st.is_object()) return render_generic(st, style);
  std::string out;
  auto field = [&](const char* label, const std::string& value) {
    out += "  " + pad(std::string(label) + ":", 10) + printable(value) + "\n";
  };
  std::string head = "enospcd";
  if (member(st, "version").is_string()) head += " " + member(st, "version").get<std::string>();
  if (!member(st, "pid").is_null()) head += " (pid " + cell(member(st, "pid")) + ")";
  if (member(st, "kernel").is_string()) head += " on Linux " + member(st, "kernel").get<std::string>();
  out += printable(head) + "\n";

  if (!member(st, "mode").is_null()) {
    std::string mode = cell(member(st, "mode"));
    if (member(st, "mode_reason").is_string() && !member(st, "mode_reason").get_ref<const std::string&>().empty())
      mode += " (" + member(st, "mode_reason").get<std::string>() + ")";
    field("mode", mode);
  }
  const json& gate = member(st, "gate");
  if (gate.is_object() || member(st, "errnos").is_array()) {
    std::string g = gate.is_object() ? cell(member(gate, "mode")) + " gate" : "gate";
    if (member(st, "errnos").is_array()) g += ", watching " + cell(member(st, "errnos"));
    field("tracing", g);
    // Targeted mode: what carries a slot, and what the completeness check found outside the set.
    const json& tg = gate.is_object() ? member(gate, "targeted") : gate;
    if (tg.is_object()) {
      std::string t = count_text(member(tg, "syscalls")) + " syscalls (" + count_text(member(tg, "entry_functions")) +
                      " entry functions)";
      const json& missed = member(tg, "untargeted_failures");
      if (missed.is_object() && !missed.empty()) {
        std::string m;
        for (const auto& [k, v] : missed.items()) m += (m.empty() ? "" : ", ") + k + " " + cell(v);
        t += "; failures outside the set: " + m;
      }
      field("targeted", t);
    }
  }
  if (member(st, "uptime_s").is_number()) field("uptime", human_duration(member(st, "uptime_s").get<double>()));
  const json& counters = member(st, "counters");
  if (counters.is_object()) {
    std::string f = count_text(member(counters, "failures_counted")) + " counted";
    if (!member(counters, "events_received").is_null())
      f += ", " + count_text(member(counters, "events_received")) + " detailed events received";
    if (!member(counters, "events_stored").is_null())
      f += ", " + count_text(member(counters, "events_stored")) + " kept";
    for (const char* k : {"events_malformed", "events_unexplained"}) {
      auto n = json_u64(member(counters, k));
      if (n && *n > 0) f += ", " + std::to_string(*n) + " " + (std::string(k) == "events_malformed" ? "malformed" : "unexplained");
    }
    field("failures", f);
    const json& losses = member(counters, "losses");
    if (losses.is_object()) {
      std::string l;
      for (const auto& [k, v] : losses.items()) {
        auto n = json_u64(v);
        if (n && *n > 0) l += (l.empty() ? "" : ", ") + k + " " + std::to_string(*n);
      }
      field("losses", l.empty() ? "none" : l);
    }
  }
  const json& journal = member(st, "journal");
  bool degraded = member(st, "degraded").is_boolean() && member(st, "degraded").get<bool>();
  if (journal.is_object()) {
    std::string j = cell(member(journal, "dir"));
    if (degraded) {
      j += ", DEGRADED";
      if (member(journal, "degraded_reason").is_string() &&
          !member(journal, "degraded_reason").get_ref<const std::string&>().empty())
        j += ": " + member(journal, "degraded_reason").get<std::string>();
    }
    field("journal", j);
  } else if (degraded) {
    field("journal", "DEGRADED");
  }
  const json& api = member(st, "api");
  if (api.is_object() && member(api, "socket").is_string()) field("socket", member(api, "socket").get<std::string>());
  const json& origins = member(st, "origins");
  if (origins.is_array() && !origins.empty()) {
    std::size_t live = 0;
    for (const auto& o : origins)
      if (o.is_object() && member(o, "mode").is_string() && member(o, "mode").get<std::string>() != "unavailable") ++live;
    field("probes", std::to_string(live) + " live of " + std::to_string(origins.size()) + " origin functions" +
                        (style.verbose ? "" : " (-v lists them)"));
  }
  if (!style.verbose) return out;

  static const char* const kSummarised[] = {"version", "pid", "kernel", "mode", "mode_reason", "uptime_s"};
  json rest = json::object();
  for (const auto& [k, v] : st.items())
    if (std::find(std::begin(kSummarised), std::end(kSummarised), k) == std::end(kSummarised)) rest[k] = v;
  // The probe table first, then everything else.
  if (rest.contains("origins")) {
    out += "\norigins:\n";
    render_into(rest["origins"], 2, style, &out);
    rest.erase("origins");
  }
  if (!rest.empty()) {
    out += "\n";
    render_into(rest, 0, style, &out);
  }
  return out;
}

std::string render_diagnosis(const json& answer, uint64_t now_ns, const Style& style) {
  const json& causes = member(answer, "causes");
  if (!causes.is_array()) return render_generic(answer, style);
  if (causes.empty()) return "no failures diagnosed\n";
  std::string out;
  for (const auto& c : causes) {
    if (!c.is_object()) continue;
    const json& latest = member(c, "latest");
    std::string head = cause_label(member(c, "cause"));
    if (head == "-") head = cause_label(latest);
    auto count = json_u64(member(c, "count"));
    if (count) head += ": " + plural(*count, "failure", "failures");
    if (member(c, "last_time").is_string()) {
      auto t = api::parse_time_ns(member(c, "last_time").get<std::string>(), 0);
      if (t) head += ", last " + relative_time(*t, now_ns);
    }
    if (member(latest, "confidence").is_string()) head += " (" + member(latest, "confidence").get<std::string>() + " confidence)";
    if (!member(c, "latest_event").is_null()) head += ", latest event " + cell(member(c, "latest_event"));
    out += printable(head) + "\n";
    for (const char* key : {"summary", "explanation", "remedy"}) {
      const json& v = member(latest, key);
      if (!v.is_string() || v.get_ref<const std::string&>().empty()) continue;
      out += std::string("  ") + (std::string(key) == "summary" ? "" : std::string(key) + ": ") + printable(v.get<std::string>()) + "\n";
    }
    // Causes without a latest cause object (an older daemon): whatever else the entry has.
    if (!latest.is_object()) {
      json rest = c;
      for (const char* k : {"cause", "count", "last_time", "latest_event", "latest"}) rest.erase(k);
      render_into(rest, 2, style, &out);
    }
  }
  return out;
}

std::string render_doctor(const json& answer, const Style& style) {
  const json& findings = member(answer, "findings");
  const json& checks = member(answer, "checks");
  if (member(answer, "error").is_string())
    return "verdict: the doctor could not run: " + printable(member(answer, "error").get<std::string>()) + "\n";
  if (!findings.is_array() && !checks.is_array()) return render_generic(answer, style);

  uint64_t critical = 0, warning = 0, info = 0;
  if (findings.is_array())
    for (const auto& f : findings) {
      std::string sev = member(f, "severity").is_string() ? member(f, "severity").get<std::string>() : "";
      (sev == "critical" ? critical : sev == "warning" ? warning : info)++;
    }
  std::size_t incomplete = 0, ran = 0;
  if (checks.is_array())
    for (const auto& c : checks) {
      std::string status = member(c, "status").is_string() ? member(c, "status").get<std::string>() : "";
      if (status != "skipped") ++ran;
      if (status == "error" ||
          (member(c, "detail").is_string() && member(c, "detail").get<std::string>().find("partial") != std::string::npos))
        ++incomplete;
    }
  std::string verdict;
  if (critical > 0)
    verdict = "CRITICAL: " + plural(critical, "critical finding", "critical findings") +
              (warning ? ", " + plural(warning, "warning", "warnings") : "") + ": ENOSPC is imminent or happening";
  else if (warning > 0)
    verdict = "WARNING: " + plural(warning, "warning", "warnings") + ": a limit is close";
  else
    verdict = "OK: no condition leading to ENOSPC found by " + plural(ran, "check", "checks");
  if (incomplete > 0) verdict += "; " + plural(incomplete, "check was", "checks were") + " incomplete (see checks)";
  std::string out = "verdict: " + verdict + "\n";

  if (findings.is_array() && !findings.empty()) {
    Table t{{"SEVERITY", "CHECK", "SUMMARY"}, {}, {2}, {}};
    if (style.verbose) {
      t.header.push_back("REMEDY");
      t.header.push_back("EVIDENCE");
      t.shrinkable = {2, 3, 4};
    }
    for (const auto& f : findings) {
      if (!style.verbose && member(f, "severity") == "info") continue;
      std::vector<std::string> row{cell(member(f, "severity")), cell(member(f, "check")), cell(member(f, "summary"))};
      if (style.verbose) {
        row.push_back(cell(member(f, "remedy")));
        row.push_back(cell(member(f, "evidence")));
      }
      t.rows.push_back(std::move(row));
    }
    if (!t.rows.empty()) out += "\n" + t.render(style.width);
    if (!style.verbose && info > 0) out += plural(info, "informational finding", "informational findings") + " (-v shows them)\n";
  }
  if (checks.is_array() && !checks.empty()) {
    Table t{{"CHECK", "STATUS", "FINDINGS", "DETAIL"}, {}, {3}, {}};
    for (const auto& c : checks) {
      bool clean = member(c, "status") == "ok" && !member(c, "detail").is_string();
      if (!style.verbose && clean) continue;
      t.rows.push_back({cell(member(c, "id")), cell(member(c, "status")), cell(member(c, "findings")),
                        cell(member(c, "detail"))});
    }
    if (!t.rows.empty()) out += "\nchecks:\n" + t.render(style.width);
  }
  const json& sysctls = member(answer, "sysctls");
  if (style.verbose && sysctls.is_object() && !sysctls.empty()) {
    out += "\nsysctls:\n";
    for (const auto& [k, v] : sysctls.items()) out += "  " + printable(k) + " = " + printable(cell(v)) + "\n";
  }
  return out;
}

std::string render_generic(const json& value, const Style& style) {
  std::string out;
  render_into(value, 0, style, &out);
  return out;
}

namespace {
struct WatchColumn {
  const char* title;
  std::size_t width;
};
// ID holds a full 64-bit id; the columns an operator needs first come first, so that an 80-column line cut at
// the terminal's width still shows id, time, pid, syscall, cause and command. The last column (PATH) takes what
// is left.
constexpr WatchColumn kWatchColumns[] = {{"ID", 19},      {"TIME", 8},  {"PID", 7},   {"SYSCALL", 10},
                                         {"CAUSE", 14},   {"COMM", 10}, {"ERRNO", 6}, {"CONTAINER", 12}};

std::string watch_row(const std::vector<std::string>& cells, const Style& style) {
  std::string s;
  for (std::size_t i = 0; i < std::size(kWatchColumns); ++i) s += fit(printable(cells[i]), kWatchColumns[i].width) + "  ";
  s += printable(cells.back());
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (style.width > 0) s = truncate(s, style.width);
  return s + "\n";
}
}  // namespace

std::string watch_header(const Style& style) {
  std::vector<std::string> cells;
  for (const auto& c : kWatchColumns) cells.emplace_back(c.title);
  cells.emplace_back("PATH");
  return watch_row(cells, style);
}

std::string watch_line(const json& e, const Style& style) {
  uint64_t ns = event_time_ns(e);
  return watch_row({cell(member(e, "id")), ns ? local_time(ns).substr(11) : "-", cell(member(e, "pid")),
                    cell(member(e, "syscall")), cause_label(member(e, "cause")), cell(member(e, "comm")),
                    cell(member(e, "errno")), container_label(member(e, "container")), cell(member(e, "path"))},
                   style);
}

}  // namespace enospcd::cli
