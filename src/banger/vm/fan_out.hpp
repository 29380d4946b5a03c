// Bounded fan-out over several VMs (S13: one command, several VMs): the one way the daemon
// asks many VMs at once.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::vm {

// At most this many VMs are asked at once by one request.
inline constexpr std::size_t kMaxParallelVms = 8;

// Runs op(i) for every i in [0, n) on at most max_parallel threads (at least one; the calling
// thread is one of them) and returns when every call has returned. When a thread cannot be
// created the work runs on the threads that exist (never std::terminate). op must be safe to
// call concurrently for different i.
void for_each_index(std::size_t n, std::size_t max_parallel,
                    const std::function<void(std::size_t)>& op);

// Runs op for every name (bounded as for_each_index) and returns each result in name order.
template <class T>
std::vector<Expected<T>> for_each(const std::vector<std::string>& names,
                                  const std::function<Expected<T>(const std::string&)>& op,
                                  std::size_t max_parallel = kMaxParallelVms) {
  std::vector<std::optional<Expected<T>>> slots(names.size());
  for_each_index(names.size(), max_parallel, [&](std::size_t i) { slots[i] = op(names[i]); });
  std::vector<Expected<T>> results;
  results.reserve(slots.size());
  for (auto& slot : slots) {
    results.push_back(std::move(*slot));
  }
  return results;
}

// Every value of results, in order; or one error whose message joins every failure's message
// with "; " and whose code is the first failure's.
template <class T>
Expected<std::vector<T>> all_or_joined_error(std::vector<Expected<T>> results) {
  std::vector<T> values;
  std::optional<Error> first;
  std::string messages;
  for (auto& result : results) {
    if (result) {
      values.push_back(std::move(*result));
      continue;
    }
    if (!first) {
      first = result.error();
    } else {
      messages += "; ";
    }
    messages += result.error().message;
  }
  if (first) {
    first->message = std::move(messages);
    return tl::unexpected(std::move(*first));
  }
  return values;
}

}  // namespace banger::vm
