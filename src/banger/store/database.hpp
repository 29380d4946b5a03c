// RAII connection to banger's SQLite state database (state.db): open, migrate, exec, prepare,
// transactions. Services never use it directly; they go through the repositories.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "banger/base/error.hpp"
#include "banger/store/migrations.hpp"
#include "banger/store/statement.hpp"

struct sqlite3;

namespace banger::store {

// One sqlite3 connection. Move-only; closed on destruction.
//
// Thread-safety: the connection is opened with SQLITE_OPEN_FULLMUTEX (serialized), so each sqlite
// call is safe from any thread, and the daemon shares one Database across threads. A sequence of
// calls that must not interleave with other threads (prepare/bind/step/read, reading
// changes() or an error message, a transaction) holds lock(), a recursive mutex; repositories
// and transaction() do this. Different processes (or connections) coordinate through WAL mode
// and the 5 s busy timeout.
class Database {
 public:
  // Opens (creating if needed) the database at path read-write, sets journal_mode=WAL,
  // busy_timeout=5000 ms and foreign_keys=ON, then applies all_migrations(). not_found /
  // permission_denied / io when the file cannot be opened; failed_precondition when its schema
  // is newer than this banger knows.
  static Expected<Database> open(const std::string& path);
  // As open(), applying `migrations` instead of all_migrations() (for migration tests).
  static Expected<Database> open(const std::string& path, std::span<const Migration> migrations);

  // Opens an existing database read-only (SQLITE_OPEN_READONLY) and never migrates; for
  // `banger doctor`. schema_version() reports what is on disk, even when newer than this banger.
  // not_found naming the path when the file does not exist.
  static Expected<Database> open_read_only(const std::string& path);

  // A private, migrated in-memory database (tests).
  static Expected<Database> open_in_memory();

  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Runs one or more sql statements, discarding rows. Errors as sqlite_error() with the sql.
  Status exec(std::string_view sql);

  // Prepares one statement. io naming the sql on syntax errors.
  Expected<Statement> prepare(std::string_view sql);

  // PRAGMA user_version as of open (after migrations, unless read-only).
  int schema_version() const;

  // Rows changed by the last INSERT/UPDATE/DELETE on this connection; hold lock() across the
  // statement and this call.
  std::int64_t changes() const;

  bool read_only() const;
  // The path given to open ("" for in-memory).
  const std::string& path() const;
  // The file name used in messages ("state.db"; "in-memory database").
  std::string display_name() const;

  // Serializes a multi-call sequence against other threads using this Database (recursive).
  std::unique_lock<std::recursive_mutex> lock() const;

  // Runs fn() (returning Status or Expected<T>) in a BEGIN IMMEDIATE transaction: COMMIT when
  // it succeeds, ROLLBACK and return its error when it fails. Holds lock() throughout. Nested
  // calls on the same thread use a SAVEPOINT. unavailable when another process keeps the
  // database locked past the busy timeout.
  template <class F>
  std::invoke_result_t<F&> transaction(F&& fn);

 private:
  struct State;
  explicit Database(std::unique_ptr<State> state);
  static Expected<Database> open_with(const std::string& path, int flags,
                                      std::span<const Migration> migrations, bool migrate_db);
  Status begin(bool* nested);
  Status commit(bool nested);
  void rollback(bool nested);
  sqlite3* handle() const;
  void set_schema_version(int version);

  std::unique_ptr<State> state_;

  friend Status migrate(Database& db, std::span<const Migration> migrations);
};

// --- Inline implementations ---

template <class F>
std::invoke_result_t<F&> Database::transaction(F&& fn) {
  auto guard = lock();
  bool nested = false;
  if (auto begun = begin(&nested); !begun) {
    return tl::unexpected(begun.error());
  }
  auto result = fn();
  if (!result) {
    rollback(nested);
    return result;
  }
  if (auto committed = commit(nested); !committed) {
    rollback(nested);
    return tl::unexpected(committed.error());
  }
  return result;
}

}  // namespace banger::store
