// bangerd's entry point: flags, paths, config, logging, signals, then Daemon::run().
#pragma once

namespace banger::daemon {

// Exit codes: 0 after a clean stop (SIGTERM, SIGINT or the `shutdown` method), 1 when the
// daemon refuses to start (the reason is printed as "bangerd: <reason>" on stderr, which the
// CLI shows to the user), 2 on a usage error.
int main(int argc, char** argv);

}  // namespace banger::daemon
