// BANGER_TRY / BANGER_TRY_ASSIGN: early return of the error of an Expected.
#pragma once

#include "banger/base/error.hpp"

#define BANGER_CONCAT_INNER(a, b) a##b
#define BANGER_CONCAT(a, b) BANGER_CONCAT_INNER(a, b)

// Evaluates expr (an Expected<...>); returns its error from the enclosing function.
#define BANGER_TRY(expr)                                   \
  do {                                                     \
    auto&& banger_try_result_ = (expr);                    \
    if (!banger_try_result_) {                             \
      return ::tl::unexpected(banger_try_result_.error()); \
    }                                                      \
  } while (false)

// Declares `decl` from the value of expr, or returns its error.
#define BANGER_TRY_ASSIGN(decl, expr) \
  BANGER_TRY_ASSIGN_IMPL(BANGER_CONCAT(banger_try_tmp_, __LINE__), decl, expr)
#define BANGER_TRY_ASSIGN_IMPL(tmp, decl, expr)      \
  auto tmp = (expr);                                 \
  if (!tmp) {                                        \
    return ::tl::unexpected(std::move(tmp).error()); \
  }                                                  \
  decl = std::move(*tmp)
