// Runs a libFuzzer target without libFuzzer: every file of the given corpus directories, then a bounded
// number of deterministic mutations of them. Built with the project's compiler, so the corpus is a
// regression test even where clang's -fsanitize=fuzzer is not available.
//
//   fuzz_api_route_replay [--mutations N] DIR...

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  size_t mutations = 0;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mutations") == 0 && i + 1 < argc) {
      mutations = std::strtoul(argv[++i], nullptr, 10);
      continue;
    }
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      if (!entry.is_regular_file()) continue;
      std::ifstream f(entry.path(), std::ios::binary);
      inputs.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "no corpus files\n");
    return 1;
  }
  for (const auto& in : inputs) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(in.data()), in.size());

  std::mt19937_64 rng(0x656e6f737063);
  const char dictionary[] = "=&?/\n%:.-+Z T0123456789smhdw";
  for (size_t i = 0; i < mutations; ++i) {
    std::string s = inputs[rng() % inputs.size()];
    for (int m = 0, n = 1 + static_cast<int>(rng() % 4); m < n; ++m) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0: s.insert(pos, 1, dictionary[rng() % (sizeof dictionary - 1)]); break;
        case 1: if (pos < s.size()) s.erase(pos, 1 + rng() % 3); break;
        case 2: if (pos < s.size()) s[pos] = static_cast<char>(rng()); break;
        default: s.insert(pos, inputs[rng() % inputs.size()].substr(0, 16)); break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("%zu corpus inputs and %zu mutations ran clean\n", inputs.size(), mutations);
  return 0;
}
