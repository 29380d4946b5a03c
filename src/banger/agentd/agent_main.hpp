// The banger-agent program: argument handling and transport start-up (src/bin/banger-agent
// only calls agent_main).
#pragma once

namespace banger::agentd {

// banger-agent [--listen-unix PATH | --version | --help]
// No arguments: guest mode (virtio-serial port + AF_VSOCK port 1024; vsock is skipped with a log
// line when unavailable). --listen-unix PATH: test mode, serves only a unix socket at PATH (never
// vsock), and poweroff only makes the agent exit. Returns the process exit code (2 on usage
// errors, 1 when the unix listener cannot be set up or on an unexpected exception, which is
// logged instead of aborting).
int agent_main(int argc, char** argv);

}  // namespace banger::agentd
