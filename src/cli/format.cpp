#include "cli/format.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "api/query.h"

namespace enospcd::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kNsPerSec = 1'000'000'000ULL;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const json& member(const json& obj, const char* key) {
  static const json null_value;
  if (!obj.is_object()) return null_value;
  auto it = obj.find(key);
  return it == obj.end() ? null_value : *it;
}

// Width in terminal columns, counting each UTF-8 sequence once.
size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string pad(const std::string& s, size_t width) {
  size_t w = display_width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string fit(const std::string& s, size_t width) {
  if (display_width(s) <= width) return pad(s, width);
  // Cut at a character boundary, leaving room for the marker.
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == width - 1) break;
  }
  return s.substr(0, i) + "~";
}

bool is_scalar(const json& j) { return !j.is_object() && !j.is_array(); }

std::string title(std::string key) {
  std::replace(key.begin(), key.end(), '_', ' ');
  return key;
}

void render_into(const json& value, int indent, std::string* out);

Table table_of(const json& array) {
  // Columns: the scalar members of the rows, in order of first appearance; nested members are shown as JSON.
  std::vector<std::string> columns;
  for (const auto& row : array) {
    if (!row.is_object()) continue;
    for (const auto& [k, v] : row.items())
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
  }
  Table t;
  for (const auto& c : columns) {
    std::string h = c;
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::toupper(ch); });
    t.header.push_back(h);
  }
  for (const auto& row : array) {
    std::vector<std::string> cells;
    for (const auto& c : columns) cells.push_back(cell(member(row, c.c_str())));
    t.rows.push_back(std::move(cells));
  }
  return t;
}

void render_into(const json& value, int indent, std::string* out) {
  const std::string ind(static_cast<size_t>(indent), ' ');
  if (is_scalar(value)) {
    *out += ind + cell(value) + "\n";
    return;
  }
  if (value.is_array()) {
    bool objects = !value.empty() && std::all_of(value.begin(), value.end(), [](const json& e) { return e.is_object(); });
    if (objects) {
      std::string table = table_of(value).render();
      size_t start = 0;
      while (start < table.size()) {
        size_t nl = table.find('\n', start);
        *out += ind + table.substr(start, nl - start) + "\n";
        start = nl + 1;
      }
    } else {
      for (const auto& e : value) render_into(e, indent, out);
    }
    return;
  }
  for (const auto& [k, v] : value.items()) {
    if (is_scalar(v)) {
      *out += ind + title(k) + ": " + cell(v) + "\n";
    } else if (v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return is_scalar(e); })) {
      std::string joined;
      for (const auto& e : v) joined += (joined.empty() ? "" : ", ") + cell(e);
      *out += ind + title(k) + ": " + (v.empty() ? "-" : joined) + "\n";
    } else if (v.is_object() && v.empty()) {
      *out += ind + title(k) + ": -\n";
    } else {
      *out += ind + title(k) + ":\n";
      render_into(v, indent + 2, out);
    }
  }
}

}  // namespace

std::string Table::render() const {
  std::vector<size_t> widths(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) widths[i] = display_width(header[i]);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < widths.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      if (i + 1 == widths.size()) {
        s += c;
      } else {
        s += pad(c, widths[i]) + "  ";
      }
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
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

std::string local_time(uint64_t ns) {
  time_t t = static_cast<time_t>(ns / kNsPerSec);
  tm local{};
  localtime_r(&t, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

uint64_t event_time_ns(const json& event) {
  const json& ns = member(event, "time_ns");
  if (ns.is_number_unsigned()) return ns.get<uint64_t>();
  if (ns.is_number_integer() && ns.get<int64_t>() > 0) return static_cast<uint64_t>(ns.get<int64_t>());
  const json& t = member(event, "time");
  if (t.is_string()) {
    auto parsed = api::parse_time_ns(t.get<std::string>(), 0);
    if (parsed) return *parsed;
  }
  return 0;
}

std::string cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  return dump(value);
}

std::string container_label(const json& c) {
  if (c.is_null()) return "-";
  if (c.is_string()) return cell(c);
  const json& name = member(c, "name");
  if (name.is_string() && !name.get_ref<const std::string&>().empty()) return name.get<std::string>();
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

std::string render_events(const json& answer, uint64_t now_ns) {
  Table t{{"ID", "TIME", "AGE", "PID", "COMM", "SYSCALL", "ERRNO", "CONTAINER", "CAUSE", "PATH"}, {}};
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
  return t.render();
}

std::string render_top(const json& answer) {
  const json& top = member(answer, "top");
  if (!top.is_array() || top.empty()) return "no failures recorded\n";
  // The documented columns first, then whatever else the daemon reports.
  std::vector<std::string> keys{"count", "pid", "comm", "syscall", "errno", "container"};
  for (const auto& row : top)
    if (row.is_object())
      for (const auto& [k, v] : row.items())
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  Table t;
  for (const auto& k : keys) {
    std::string h = k;
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::toupper(ch); });
    t.header.push_back(h);
  }
  for (const auto& row : top) {
    std::vector<std::string> cells;
    for (const auto& k : keys)
      cells.push_back(k == "container" ? container_label(member(row, "container"))
                      : k == "cause"   ? cause_label(member(row, "cause"))
                                       : cell(member(row, k.c_str())));
    t.rows.push_back(std::move(cells));
  }
  return t.render();
}

std::string render_event(const json& e, uint64_t now_ns) {
  std::string out;
  auto field = [&](const std::string& label, const std::string& value) { out += pad(label + ":", 11) + value + "\n"; };
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
  static const char* const kShown[] = {"id",   "time", "time_ns",   "comm",  "pid", "tid", "uid",
                                       "syscall", "errno", "ret", "path", "container"};
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
    render_into(rest, 0, &out);
  }
  return out;
}

std::string render_generic(const json& value) {
  std::string out;
  render_into(value, 0, &out);
  return out;
}

std::string watch_header() {
  return fit("TIME", 8) + "  " + fit("PID", 7) + "  " + fit("COMM", 15) + "  " + fit("SYSCALL", 12) + "  " +
         fit("ERRNO", 7) + "  " + fit("CONTAINER", 14) + "  " + fit("CAUSE", 18) + "  PATH\n";
}

std::string watch_line(const json& e) {
  uint64_t ns = event_time_ns(e);
  std::string when = ns ? local_time(ns).substr(11) : "-";
  std::string s = fit(when, 8) + "  " + fit(cell(member(e, "pid")), 7) + "  " + fit(cell(member(e, "comm")), 15) +
                  "  " + fit(cell(member(e, "syscall")), 12) + "  " + fit(cell(member(e, "errno")), 7) + "  " +
                  fit(container_label(member(e, "container")), 14) + "  " + fit(cause_label(member(e, "cause")), 18) +
                  "  " + cell(member(e, "path"));
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s + "\n";
}

}  // namespace enospcd::cli
