// Text tables for a terminal, one renderer for the daemon's --once report and for enospcctl: columns sized to
// their content, two spaces apart, and, given a width to fit, free text cut with an ellipsis and optional
// columns left out. Every cell is escaped (printable()): text from the kernel cannot forge a row or drive the
// terminal.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace enospcd {

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  // Free-text columns that may be cut (with "…") to fit, and columns that may be left out, in the order they
  // are given up; a column whose cells are all "-" is left out before any of those.
  std::vector<std::size_t> shrinkable = {};
  std::vector<std::size_t> droppable = {};

  // Two spaces between columns, no trailing blanks; an empty table renders as its header only. Cells are
  // escaped (printable()). max_width 0: every column at its full width.
  std::string render(std::size_t max_width = 0) const;
};

// Terminal columns a string takes (one per UTF-8 character).
std::size_t display_width(const std::string& s);
// s cut to at most `width` columns, ending in "…" when something was cut.
std::string truncate(const std::string& s, std::size_t width);
// s padded with blanks to `width` columns.
std::string pad(const std::string& s, std::size_t width);

}  // namespace enospcd
