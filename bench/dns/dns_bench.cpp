// DNS benchmark server: fills a RecordTable with N names (vm0 .. vm<N-1>) and serves them with
// banger's DnsServer on loopback until SIGTERM/SIGINT. It also writes the same records as a
// hosts file (for dnsmasq --addn-hosts) and a dnsperf query file, so bench/dns/run.sh can drive
// both servers with identical load.
//
// Usage: dns_bench serve <records> <hosts-out> <queries-out> <port-out>
//        dns_bench free-port      (prints a loopback UDP port that was free a moment ago)
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "banger/base/fd.hpp"
#include "banger/dns/records.hpp"
#include "banger/dns/server.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: dns_bench serve <records> <hosts-out> <queries-out> <port-out>\n"
               "       dns_bench free-port\n");
  return 2;
}

std::string address_of(int i) {
  return "10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) + "." +
         std::to_string(i & 0xff);
}

int free_port() {
  banger::base::UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::perror("dns_bench free-port");
    return 1;
  }
  std::printf("%d\n", ntohs(sa.sin_port));
  return 0;
}

int serve(int records, const std::string& hosts_out, const std::string& queries_out,
          const std::string& port_out) {
  using namespace banger;
  dns::RecordTable table;
  std::ofstream hosts(hosts_out);
  std::ofstream queries(queries_out);
  for (int i = 0; i < records; ++i) {
    std::string name = "vm" + std::to_string(i);
    if (auto set = table.set(name, address_of(i)); !set) {
      std::fprintf(stderr, "dns_bench: %s\n", set.error().message.c_str());
      return 1;
    }
    hosts << address_of(i) << ' ' << name << ".vm\n";
    queries << name << ".vm A\n";
  }
  hosts.close();
  queries.close();
  // Block the stop signals before the server thread starts, so only sigwait() sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  dns::DnsServer server(table, {.listen = "127.0.0.1:0", .mode = dns::Mode::authoritative});
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "dns_bench: %s\n", started.error().message.c_str());
    return 1;
  }
  {
    std::ofstream port(port_out + ".tmp");
    port << server.port() << '\n';
  }
  std::rename((port_out + ".tmp").c_str(), port_out.c_str());
  int signal = 0;
  sigwait(&stop_signals, &signal);
  auto stats = server.stats();
  server.stop();
  std::fprintf(stderr, "dns_bench: %llu queries, %llu answered from %d records\n",
               static_cast<unsigned long long>(stats.queries),
               static_cast<unsigned long long>(stats.vm_answers), records);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "free-port" && argc == 2) {
    return free_port();
  }
  if (mode == "serve" && argc == 6) {
    return serve(std::atoi(argv[2]), argv[3], argv[4], argv[5]);
  }
  return usage();
}
