#pragma once

namespace enospcd::cli {

// enospcctl's whole program; main() only calls this. Returns the exit status.
int run(int argc, char** argv);

}  // namespace enospcd::cli
