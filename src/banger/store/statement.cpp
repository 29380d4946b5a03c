#include "banger/store/statement.hpp"

#include <fmt/format.h>

#include <utility>

#include <sqlite3.h>

namespace banger::store {

Error sqlite_error(sqlite3* db, int rc, std::string_view doing) {
  Errc code = Errc::io;
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      code = Errc::already_exists;
      break;
    default:
      switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
          code = Errc::unavailable;
          break;
        case SQLITE_PERM:
        case SQLITE_READONLY:
        case SQLITE_AUTH:
          code = Errc::permission_denied;
          break;
        case SQLITE_CANTOPEN:
          code = Errc::not_found;
          break;
        default:
          break;
      }
  }
  // sqlite3_errmsg describes the most recent failure on db, which is this one as long as the
  // caller holds Database::lock(); errstr is the generic text of rc.
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error{code, fmt::format("{}: {}", doing, detail), 0, {}};
}

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Status Statement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK) {
    return tl::unexpected(
        sqlite_error(db_, rc, fmt::format("binding parameter {} of \"{}\"", index, sql())));
  }
  return {};
}

Status Statement::bind(int index, std::int64_t value) {
  return check_bind(sqlite3_bind_int64(stmt_, index, value), index);
}

Status Statement::bind(int index, std::string_view value) {
  return check_bind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
      index);
}

Status Statement::bind(int index, const std::string& value) {
  return bind(index, std::string_view(value));
}

Status Statement::bind(int index, const char* value) {
  return bind(index, std::string_view(value));
}

Status Statement::bind(int index, std::nullptr_t) {
  return check_bind(sqlite3_bind_null(stmt_, index), index);
}

Status Statement::bind(int index, const std::optional<std::int64_t>& value) {
  return value ? bind(index, *value) : bind(index, nullptr);
}

Status Statement::bind(int index, const std::optional<std::string>& value) {
  return value ? bind(index, std::string_view(*value)) : bind(index, nullptr);
}

Expected<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return tl::unexpected(sqlite_error(db_, rc, fmt::format("running \"{}\"", sql())));
}

std::int64_t Statement::column_int64(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::column_text(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)));
}

bool Statement::column_is_null(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

std::optional<std::int64_t> Statement::column_optional_int64(int index) const {
  if (column_is_null(index)) {
    return std::nullopt;
  }
  return column_int64(index);
}

std::optional<std::string> Statement::column_optional_text(int index) const {
  if (column_is_null(index)) {
    return std::nullopt;
  }
  return column_text(index);
}

void Statement::reset() {
  // sqlite3_reset returns the error of the last step, already reported by step().
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string Statement::sql() const {
  const char* text = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  return text != nullptr ? text : "";
}

}  // namespace banger::store
