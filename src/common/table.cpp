#include "common/table.h"

#include <algorithm>

#include "common/printable.h"

namespace enospcd {
namespace {

constexpr std::size_t kReadable = 24;  // free text is cut to this width before optional columns are left out
constexpr std::size_t kMinShrunk = 6;  // a cut column keeps at least this many columns (or its header's width)

}  // namespace

std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string truncate(const std::string& s, std::size_t width) {
  if (display_width(s) <= width) return s;
  if (width == 0) return "";
  // Keep width-1 characters, cut at a character boundary, then the ellipsis.
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == width - 1) break;
  }
  return s.substr(0, i) + "\xe2\x80\xa6";
}

std::string pad(const std::string& s, std::size_t width) {
  std::size_t w = display_width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string Table::render(std::size_t max_width) const {
  const std::size_t n = header.size();
  std::vector<std::string> head(n);
  std::vector<std::vector<std::string>> body;
  for (std::size_t i = 0; i < n; ++i) head[i] = printable(header[i]);
  for (const auto& row : rows) {
    std::vector<std::string> cells(n);
    for (std::size_t i = 0; i < n && i < row.size(); ++i) cells[i] = printable(row[i]);
    body.push_back(std::move(cells));
  }
  std::vector<std::size_t> natural(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    natural[i] = display_width(head[i]);
    for (const auto& row : body) natural[i] = std::max(natural[i], display_width(row[i]));
  }
  std::vector<bool> shown(n, true);
  std::vector<std::size_t> widths = natural;
  auto total = [&] {
    std::size_t t = 0, cols = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (shown[i]) t += widths[i], ++cols;
    return t + (cols > 0 ? 2 * (cols - 1) : 0);
  };
  if (max_width > 0 && total() > max_width) {
    // Columns with nothing in them go first.
    if (!body.empty())
      for (std::size_t i = 0; i < n; ++i)
        if (std::all_of(body.begin(), body.end(), [&](const auto& r) { return r[i] == "-" || r[i].empty(); }) &&
            (std::count(shrinkable.begin(), shrinkable.end(), i) || std::count(droppable.begin(), droppable.end(), i)))
          shown[i] = false;
    // Narrow the widest free-text column, one column at a time, down to `least` columns or until the table fits.
    auto shrink = [&](std::size_t least) {
      while (total() > max_width) {
        std::size_t best = n;
        for (std::size_t i : shrinkable) {
          if (i >= n || !shown[i]) continue;
          std::size_t floor = std::max(least, display_width(head[i]));
          if (widths[i] > floor && (best == n || widths[i] > widths[best])) best = i;
        }
        if (best == n) break;
        --widths[best];
      }
    };
    // Free text is cut to a readable width first, then optional columns go, then free text is cut further.
    std::size_t next_drop = 0;
    for (;;) {
      widths = natural;
      shrink(kReadable);
      if (total() <= max_width) break;
      while (next_drop < droppable.size() && (droppable[next_drop] >= n || !shown[droppable[next_drop]])) ++next_drop;
      if (next_drop == droppable.size()) break;
      shown[droppable[next_drop++]] = false;
    }
    shrink(kMinShrunk);
  }
  std::size_t last = n;
  for (std::size_t i = 0; i < n; ++i)
    if (shown[i]) last = i;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      if (!shown[i]) continue;
      std::string c = truncate(cells[i], widths[i]);
      s += i == last ? c : pad(c, widths[i]) + "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s + "\n";
  };
  std::string out = line(head);
  for (const auto& row : body) out += line(row);
  return out;
}

}  // namespace enospcd
