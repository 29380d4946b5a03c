// Guarded<T>: a value and the mutex that protects it; access only through with_lock().
#pragma once

#include <mutex>
#include <utility>

namespace banger::base {

template <class T>
class Guarded {
 public:
  Guarded() = default;
  explicit Guarded(T value) : value_(std::move(value)) {}

  // Calls fn(T&) with the mutex held and returns its result.
  template <class F>
  decltype(auto) with_lock(F&& fn) {
    std::lock_guard lock(mutex_);
    return std::forward<F>(fn)(value_);
  }
  template <class F>
  decltype(auto) with_lock(F&& fn) const {
    std::lock_guard lock(mutex_);
    return std::forward<F>(fn)(value_);
  }

 private:
  mutable std::mutex mutex_;
  T value_{};
};

}  // namespace banger::base
