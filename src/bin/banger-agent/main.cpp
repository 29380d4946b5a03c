// banger-agent: the guest agent (SPEC S8, docs/agent.md), a fully static binary.
#include "banger/agentd/agent_main.hpp"

int main(int argc, char** argv) { return banger::agentd::agent_main(argc, argv); }
