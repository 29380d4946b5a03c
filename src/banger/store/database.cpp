#include "banger/store/database.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <system_error>

#include <sqlite3.h>

#include "banger/base/expected.hpp"

namespace banger::store {

struct Database::State {
  sqlite3* db = nullptr;
  std::recursive_mutex mutex;
  std::string path;
  bool read_only = false;
  int schema_version = 0;
  int savepoint_depth = 0;  // nested transaction() calls currently open

  ~State() {
    if (db != nullptr) {
      sqlite3_close_v2(db);
    }
  }
};

namespace {

constexpr int kBusyTimeoutMs = 5000;

}  // namespace

Database::Database(std::unique_ptr<State> state) : state_(std::move(state)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

Expected<Database> Database::open(const std::string& path) { return open(path, all_migrations()); }

Expected<Database> Database::open(const std::string& path, std::span<const Migration> migrations) {
  return open_with(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, migrations, true);
}

Expected<Database> Database::open_read_only(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return fail(Errc::not_found,
                fmt::format("opening {} read-only: {} does not exist",
                            std::filesystem::path(path).filename().string(), path));
  }
  return open_with(path, SQLITE_OPEN_READONLY, {}, false);
}

Expected<Database> Database::open_in_memory() {
  return open_with(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, all_migrations(), true);
}

Expected<Database> Database::open_with(const std::string& path, int flags,
                                       std::span<const Migration> migrations, bool migrate_db) {
  auto state = std::make_unique<State>();
  state->path = path == ":memory:" ? "" : path;
  state->read_only = (flags & SQLITE_OPEN_READONLY) != 0;
  int rc = sqlite3_open_v2(path.c_str(), &state->db, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::string doing = fmt::format("opening database {}", path);
  if (rc != SQLITE_OK) {
    Error error = sqlite_error(state->db, rc, doing);
    return tl::unexpected(std::move(error));
  }
  sqlite3_extended_result_codes(state->db, 1);
  sqlite3_busy_timeout(state->db, kBusyTimeoutMs);

  Database db(std::move(state));
  if (!db.read_only()) {
    // In-memory databases answer "memory"; that is fine.
    if (auto wal = db.exec("PRAGMA journal_mode=WAL"); !wal) {
      return tl::unexpected(with_context(wal.error(), doing));
    }
  }
  if (auto fk = db.exec("PRAGMA foreign_keys=ON"); !fk) {
    return tl::unexpected(with_context(fk.error(), doing));
  }
  if (migrate_db) {
    BANGER_TRY(migrate(db, migrations));
  } else {
    auto version = read_user_version(db);
    if (!version) {
      return tl::unexpected(with_context(version.error(), doing));
    }
    db.set_schema_version(*version);
  }
  return db;
}

sqlite3* Database::handle() const { return state_->db; }

void Database::set_schema_version(int version) { state_->schema_version = version; }

Status Database::exec(std::string_view sql) {
  auto guard = lock();
  std::string text(sql);
  int rc = sqlite3_exec(handle(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return tl::unexpected(sqlite_error(handle(), rc, fmt::format("running \"{}\"", sql)));
  }
  return {};
}

Expected<Statement> Database::prepare(std::string_view sql) {
  auto guard = lock();
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(handle(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return tl::unexpected(sqlite_error(handle(), rc, fmt::format("preparing \"{}\"", sql)));
  }
  return Statement(handle(), stmt);
}

int Database::schema_version() const { return state_->schema_version; }

std::int64_t Database::changes() const { return sqlite3_changes64(handle()); }

bool Database::read_only() const { return state_->read_only; }

const std::string& Database::path() const { return state_->path; }

std::string Database::display_name() const {
  if (state_->path.empty()) {
    return "in-memory database";
  }
  return std::filesystem::path(state_->path).filename().string();
}

std::unique_lock<std::recursive_mutex> Database::lock() const {
  return std::unique_lock(state_->mutex);
}

Status Database::begin(bool* nested) {
  // Autocommit is off inside a transaction: a nested transaction() becomes a savepoint.
  *nested = sqlite3_get_autocommit(handle()) == 0;
  if (*nested) {
    ++state_->savepoint_depth;
    auto status = exec(fmt::format("SAVEPOINT banger_{}", state_->savepoint_depth));
    if (!status) {
      --state_->savepoint_depth;
    }
    return status;
  }
  return exec("BEGIN IMMEDIATE");
}

Status Database::commit(bool nested) {
  if (nested) {
    auto status = exec(fmt::format("RELEASE banger_{}", state_->savepoint_depth));
    if (status) {
      --state_->savepoint_depth;
    }
    return status;
  }
  return exec("COMMIT");
}

void Database::rollback(bool nested) {
  // A failed ROLLBACK leaves nothing better to do: the error that caused it is what the caller
  // reports, and sqlite rolls back an open transaction when the connection closes.
  if (nested) {
    (void)exec(fmt::format("ROLLBACK TO banger_{}", state_->savepoint_depth));
    (void)exec(fmt::format("RELEASE banger_{}", state_->savepoint_depth));
    --state_->savepoint_depth;
    return;
  }
  if (sqlite3_get_autocommit(handle()) == 0) {
    (void)exec("ROLLBACK");
  }
}

}  // namespace banger::store
