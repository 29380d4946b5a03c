#include "banger/cli/main.hpp"

int main(int argc, char** argv) { return banger::cli::main(argc, argv); }
