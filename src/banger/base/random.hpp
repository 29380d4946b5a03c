// Random seam: uniform integers; the real one is seeded from the OS, tests seed a fixed value.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace banger::base {

class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, bound); bound must be > 0.
  virtual std::uint64_t below(std::uint64_t bound) = 0;
};

// A mt19937_64 behind a mutex. Seeded from std::random_device unless a seed is given.
class Mt19937Random final : public Random {
 public:
  Mt19937Random();
  explicit Mt19937Random(std::uint64_t seed);
  std::uint64_t below(std::uint64_t bound) override;

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

// n lowercase hex characters drawn from random.
std::string random_hex(Random& random, std::size_t n);

}  // namespace banger::base
