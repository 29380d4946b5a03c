#include "banger/agentd/log.hpp"

#include <unistd.h>

#include <string>

namespace banger::agentd {

void log_line(std::string_view message) {
  std::string line = "banger-agent: ";
  line.append(message);
  line.push_back('\n');
  const ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace banger::agentd
