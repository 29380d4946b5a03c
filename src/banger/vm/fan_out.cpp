#include "banger/vm/fan_out.hpp"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

namespace banger::vm {

void for_each_index(std::size_t n, std::size_t max_parallel,
                    const std::function<void(std::size_t)>& op) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      op(i);
    }
  };
  std::size_t threads = std::min(n, std::max<std::size_t>(max_parallel, 1));
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (std::size_t t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // no more threads (pid_max, memory): the ones made and this one do the work
    }
  }
  worker();  // this thread is one of the workers, so the work is done even with no new thread
  for (auto& thread : pool) {
    thread.join();
  }
}

}  // namespace banger::vm
