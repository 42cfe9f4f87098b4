#include "cli/cli.h"

int main(int argc, char** argv) { return wow::cli::Main(argc, argv); }
