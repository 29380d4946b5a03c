// BANGER_ASSERT: always-on invariant check (also in release builds). Never for
// conditions the environment or the user can cause: those return an Error.
#pragma once

#include <cstdio>
#include <cstdlib>

#define BANGER_ASSERT(cond, why)                                                                  \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "%s:%d: assertion failed: %s (%s)\n", __FILE__, __LINE__, #cond, why); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (false)
