#pragma once

namespace wow::cli {

// The `wow` command line: parses argv, runs a subcommand, returns the exit
// code (0 success, 1 action/compile failure, 2 usage error).
int Main(int argc, char** argv);

}  // namespace wow::cli
