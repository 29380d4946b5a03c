// RAII prepared statement over sqlite3_stmt: bind by index, step, read columns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "banger/base/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace banger::store {

// Maps a failed sqlite call to an Error: "<doing>: <sqlite message>". A UNIQUE or PRIMARY KEY
// violation is already_exists; SQLITE_BUSY/LOCKED is unavailable; SQLITE_PERM/READONLY/AUTH is
// permission_denied; SQLITE_CANTOPEN is not_found; anything else is io. `rc` is an (extended)
// result code; db may be null (the message then comes from sqlite3_errstr).
Error sqlite_error(sqlite3* db, int rc, std::string_view doing);

// A prepared statement. Move-only; finalized on destruction.
// Thread-safety: use a Statement from one thread at a time, while holding Database::lock()
// when the Database is shared between threads (see database.hpp).
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt);
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind parameter `index` (1-based, as in sqlite). Errors (io) name the index and the sql:
  // a bad index or an out-of-memory in sqlite.
  Status bind(int index, std::int64_t value);
  Status bind(int index, std::string_view value);
  Status bind(int index, const std::string& value);
  Status bind(int index, const char* value);
  Status bind(int index, std::nullptr_t);
  Status bind(int index, const std::optional<std::int64_t>& value);
  Status bind(int index, const std::optional<std::string>& value);

  // Runs one step: true when a row is available, false when done. Errors as sqlite_error()
  // with the sql as context (already_exists for UNIQUE violations, unavailable for BUSY).
  Expected<bool> step();

  // Column getters for the current row (0-based index). NULL reads as 0 / "".
  std::int64_t column_int64(int index) const;
  std::string column_text(int index) const;
  bool column_is_null(int index) const;
  std::optional<std::int64_t> column_optional_int64(int index) const;
  std::optional<std::string> column_optional_text(int index) const;

  // Resets the statement so it can run again and clears its bindings.
  void reset();

  // The sql text, for error messages.
  std::string sql() const;

 private:
  Status check_bind(int rc, int index);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace banger::store
