#include "cli/cli.h"

int main(int argc, char** argv) { return enospcd::cli::run(argc, argv); }
