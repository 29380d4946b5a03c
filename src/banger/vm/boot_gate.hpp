// BootGate: at most N VMs boot at once on emulated CPUs. Under TCG a boot is pure CPU work, so
// ten boots started together on two cores do not finish sooner than ten in waves of two: they
// take longer, because every switch between ten QEMUs evicts the others' translated code from
// the caches (docs/benchmarks.md "Boot": 26.9 s together against 20.7 s in waves of two for
// ten bare QEMUs). Starts past N wait for a free slot; under KVM nothing waits (the gate is
// only entered for VMs whose host emulates their CPUs).
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"

namespace banger::vm {

class BootGate {
 public:
  // slots: how many boots run at once; 0 = no limit (enter never waits).
  explicit BootGate(std::size_t slots) : slots_(slots) {}
  BootGate(const BootGate&) = delete;
  BootGate& operator=(const BootGate&) = delete;

  // A held boot slot, given back when destroyed. Move-only.
  class Slot {
   public:
    Slot(Slot&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Slot& operator=(Slot&&) = delete;
    ~Slot();

   private:
    friend class BootGate;
    explicit Slot(BootGate* gate) : gate_(gate) {}
    BootGate* gate_;
  };

  // Takes a slot, waiting while all are held; cancelled (and no slot) once cancel says so
  // (checked at least every 100 ms while waiting).
  Expected<Slot> enter(const base::CancelFn& cancel);
  // Slots held right now.
  std::size_t booting() const;
  std::size_t slots() const { return slots_; }

 private:
  void leave();

  const std::size_t slots_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t held_ = 0;
};

}  // namespace banger::vm
