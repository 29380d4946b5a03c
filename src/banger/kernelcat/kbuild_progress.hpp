// Follows the output of `make vmlinux` (kbuild's quiet lines such as "  CC      kernel/fork.o")
// chunk by chunk, for `kernel build`'s progress.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace banger::kernelcat {

class KbuildProgress {
 public:
  // Feeds the next chunk of make's stdout (chunks need not end on line boundaries; a line
  // longer than 4 KiB is dropped). Returns true when at least one step line completed.
  bool feed(std::string_view chunk);
  // Compile steps seen so far (CC, AS, CC [M] lines: one per object).
  std::size_t compiled() const { return compiled_; }
  // The last step line, normalized: "CC kernel/fork.o", "LD vmlinux.o" ("" before the first).
  const std::string& last_step() const { return last_step_; }

 private:
  // Whether line was a step line.
  bool take_line(std::string_view line);

  std::string partial_;
  bool overlong_ = false;  // the current partial line passed the bound: dropped
  std::size_t compiled_ = 0;
  std::string last_step_;
};

}  // namespace banger::kernelcat
