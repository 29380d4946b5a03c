// The ordered schema migrations of state.db and the code that applies them.
// To change the schema, append a migration to the list in migrations.cpp (never edit an old one)
// and add a test that upgrades a database of the previous version.
#pragma once

#include <span>
#include <string_view>

#include "banger/base/error.hpp"

namespace banger::store {

class Database;

struct Migration {
  int version;            // 1, 2, 3 ... with no gaps; also the PRAGMA user_version after it
  std::string_view name;  // short description recorded in schema_migrations
  std::string_view sql;   // one or more statements, run inside the migration's transaction
};

// banger's migrations, in order.
std::span<const Migration> all_migrations();

// The version of the last migration in the list (0 for an empty list).
int latest_schema_version(std::span<const Migration> migrations);

// PRAGMA user_version as stored in the file now; sqlite errors as io / unavailable.
Expected<int> read_user_version(Database& db);

// Brings db up to the last migration in `migrations`. Each pending migration runs in its own
// BEGIN IMMEDIATE transaction that also records it in schema_migrations(version, name,
// applied_at) and sets PRAGMA user_version, so a crash leaves the database at a whole version and
// two processes migrating at once apply each migration once. failed_precondition when the
// database is newer than the list ("state.db has schema version 7, this banger knows up to 1:
// upgrade banger"); sqlite errors (with the migration named) otherwise.
Status migrate(Database& db, std::span<const Migration> migrations);

}  // namespace banger::store
