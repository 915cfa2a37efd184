#pragma once
// A fresh private directory under /tmp (mode 0700), removed with everything in it on destruction. path() is
// empty when it could not be made.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace enospcd::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/enospcd-test.XXXXXX";
    path_ = ::mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace enospcd::testing
