// Low-level helpers shared by the /proc and /sys readers: whole-file reads that tolerate procfs quirks,
// root-relative paths, number parsing without exceptions, and mountinfo-style octal unescaping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/strings.h"

namespace enospcd::context {

// "/" + "/proc/1/status" -> "/proc/1/status"; "/tmp/fake" + "/proc/1/status" -> "/tmp/fake/proc/1/status".
std::string join_root(std::string_view root, std::string_view abs_path);

// Reads a file to EOF. procfs files report st_size 0, so this never trusts the size. Error.code is the errno.
Result<std::string> read_file(const std::string& path, std::size_t limit = 64u << 20);
Result<std::string> read_link(const std::string& path);
// The same relative to a directory fd (openat/readlinkat): the scan holds one O_PATH fd per /proc/<pid>, which
// saves the path walk and never reads a recycled pid's files (the fd keeps the old pid's directory).
Result<std::string> read_file_at(int dirfd, const char* rel, std::size_t limit = 64u << 20);
Result<std::string> read_link_at(int dirfd, const char* rel);

// A process that exits while we read its /proc entries yields ENOENT or ESRCH: normal, not a failure.
inline bool is_gone(const Error& e) { return e.code == 2 /*ENOENT*/ || e.code == 3 /*ESRCH*/; }

std::vector<std::string_view> split_fields(std::string_view s);  // on runs of spaces and tabs
std::vector<std::string_view> split_lines(std::string_view s);

bool parse_u64(std::string_view s, uint64_t& out, int base = 10);
bool parse_i64(std::string_view s, int64_t& out);
bool parse_int(std::string_view s, int& out);

// Undo the kernel's mangling in mountinfo/mounts (seq_escape "\\ \t\n"): "\040" -> ' ', "\134" -> '\\'.
std::string unescape_octal(std::string_view s);

// Integer percentage rounded up, like df: 0 when total is 0.
unsigned percent_ceil(uint64_t part, uint64_t total);

// Non-empty and only 0-9 a-f, as container and image ids are written.
bool is_lower_hex(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);

}  // namespace enospcd::context
