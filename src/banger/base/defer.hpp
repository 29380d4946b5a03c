// Defer: runs a callable when the scope ends, unless dismissed (rollback helper).
#pragma once

#include <utility>

namespace banger::base {

template <class F>
class Defer {
 public:
  explicit Defer(F fn) : fn_(std::move(fn)) {}
  Defer(const Defer&) = delete;
  Defer& operator=(const Defer&) = delete;
  ~Defer() {
    if (armed_) {
      fn_();
    }
  }
  // The cleanup will not run (the operation succeeded).
  void dismiss() { armed_ = false; }

 private:
  F fn_;
  bool armed_ = true;
};

}  // namespace banger::base
