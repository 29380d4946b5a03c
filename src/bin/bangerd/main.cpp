#include "banger/daemon/main.hpp"

int main(int argc, char** argv) { return banger::daemon::main(argc, argv); }
