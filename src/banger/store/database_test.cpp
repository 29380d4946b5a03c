#include "banger/store/database.hpp"

#include <gtest/gtest.h>

#include <string>

#include "banger/base/expected.hpp"
#include "banger/testkit/temp_dir.hpp"

namespace banger::store {
namespace {

std::string query_text(Database& db, const std::string& sql) {
  auto stmt = db.prepare(sql);
  EXPECT_TRUE(stmt) << stmt.error().message;
  auto row = stmt->step();
  EXPECT_TRUE(row && *row) << sql;
  return stmt->column_text(0);
}

TEST(Database, OpensAFileInWalModeWithForeignKeysAndMigrates) {
  testkit::TempDir dir;
  auto db = Database::open(dir.path() + "/state.db");
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 5);
  EXPECT_FALSE(db->read_only());
  EXPECT_EQ(db->display_name(), "state.db");
  EXPECT_EQ(query_text(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query_text(*db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(query_text(*db, "PRAGMA busy_timeout"), "5000");
  EXPECT_EQ(query_text(*db, "PRAGMA user_version"), "5");
}

TEST(Database, InMemoryDatabaseIsMigrated) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 5);
  EXPECT_EQ(db->display_name(), "in-memory database");
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM vms"), "0");
}

TEST(Database, OpenFailsInAMissingDirectory) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/nope/state.db";
  auto db = Database::open(path);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, Errc::not_found);
  EXPECT_EQ(db.error().message, "opening database " + path + ": unable to open database file");
}

TEST(Database, PrepareReportsSyntaxErrorsWithTheSql) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  auto stmt = db->prepare("SELEC 1");
  ASSERT_FALSE(stmt);
  EXPECT_EQ(stmt.error().code, Errc::io);
  EXPECT_EQ(stmt.error().message, "preparing \"SELEC 1\": near \"SELEC\": syntax error");
}

TEST(Database, ExecReportsErrorsWithTheSql) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  auto status = db->exec("DROP TABLE nope");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::io);
  EXPECT_EQ(status.error().message, "running \"DROP TABLE nope\": no such table: nope");
}

TEST(Statement, BindsAndReadsIntegersTextNullAndOptionals) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (a INTEGER, b TEXT, c TEXT, d INTEGER)"));
  auto insert = db->prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
  ASSERT_TRUE(insert);
  ASSERT_TRUE(insert->bind(1, std::int64_t{-5}));
  ASSERT_TRUE(insert->bind(2, "text"));
  ASSERT_TRUE(insert->bind(3, std::optional<std::string>{}));
  ASSERT_TRUE(insert->bind(4, std::optional<std::int64_t>{7}));
  EXPECT_EQ(insert->step(), false);
  insert->reset();
  ASSERT_TRUE(insert->bind(1, nullptr));
  ASSERT_TRUE(insert->bind(2, std::string("two")));
  ASSERT_TRUE(insert->bind(3, std::optional<std::string>{"three"}));
  ASSERT_TRUE(insert->bind(4, std::optional<std::int64_t>{}));
  EXPECT_EQ(insert->step(), false);

  auto select = db->prepare("SELECT a, b, c, d FROM t ORDER BY rowid");
  ASSERT_TRUE(select);
  ASSERT_EQ(select->step(), true);
  EXPECT_EQ(select->column_int64(0), -5);
  EXPECT_EQ(select->column_text(1), "text");
  EXPECT_TRUE(select->column_is_null(2));
  EXPECT_EQ(select->column_optional_text(2), std::nullopt);
  EXPECT_EQ(select->column_optional_int64(3), 7);
  ASSERT_EQ(select->step(), true);
  EXPECT_EQ(select->column_optional_int64(0), std::nullopt);
  EXPECT_EQ(select->column_int64(0), 0);
  EXPECT_EQ(select->column_text(1), "two");
  EXPECT_EQ(select->column_optional_text(2), "three");
  EXPECT_EQ(select->step(), false);
}

TEST(Statement, BindingAMissingParameterFailsNamingIt) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  auto stmt = db->prepare("SELECT ?");
  ASSERT_TRUE(stmt);
  auto status = stmt->bind(2, std::int64_t{1});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::io);
  EXPECT_EQ(status.error().message,
            "binding parameter 2 of \"SELECT ?\": column index out of range");
}

TEST(Statement, UniqueViolationIsAlreadyExists) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (a TEXT UNIQUE); INSERT INTO t VALUES ('x')"));
  auto stmt = db->prepare("INSERT INTO t VALUES ('x')");
  ASSERT_TRUE(stmt);
  auto row = stmt->step();
  ASSERT_FALSE(row);
  EXPECT_EQ(row.error().code, Errc::already_exists);
  EXPECT_EQ(row.error().message,
            "running \"INSERT INTO t VALUES ('x')\": UNIQUE constraint failed: t.a");
}

TEST(Database, TransactionCommitsOnSuccess) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (a INTEGER)"));
  auto result = db->transaction([&]() -> Expected<int> {
    BANGER_TRY(db->exec("INSERT INTO t VALUES (1)"));
    return 42;
  });
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 42);
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM t"), "1");
}

TEST(Database, TransactionRollsBackOnError) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (a INTEGER)"));
  auto status = db->transaction([&]() -> Status {
    BANGER_TRY(db->exec("INSERT INTO t VALUES (1)"));
    return fail(Errc::invalid_argument, "changed my mind");
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, Errc::invalid_argument);
  EXPECT_EQ(status.error().message, "changed my mind");
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM t"), "0");
}

TEST(Database, NestedTransactionRollsBackOnlyItsOwnWork) {
  auto db = Database::open_in_memory();
  ASSERT_TRUE(db);
  ASSERT_TRUE(db->exec("CREATE TABLE t (a INTEGER)"));
  auto status = db->transaction([&]() -> Status {
    BANGER_TRY(db->exec("INSERT INTO t VALUES (1)"));
    auto inner = db->transaction([&]() -> Status {
      BANGER_TRY(db->exec("INSERT INTO t VALUES (2)"));
      return fail(Errc::internal, "inner failed");
    });
    EXPECT_FALSE(inner);
    return {};
  });
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(query_text(*db, "SELECT group_concat(a) FROM t"), "1");
}

TEST(Database, ReadOnlyOpenFailsClearlyOnAMissingFile) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  auto db = Database::open_read_only(path);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, Errc::not_found);
  EXPECT_EQ(db.error().message, "opening state.db read-only: " + path + " does not exist");
}

TEST(Database, ReadOnlyOpenDoesNotMigrateOrWrite) {
  // Given a version-0 database (created without migrations), then read-only open keeps it so.
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto empty = Database::open(path, {});
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_EQ(empty->schema_version(), 0);
  }
  auto db = Database::open_read_only(path);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_TRUE(db->read_only());
  EXPECT_EQ(db->schema_version(), 0);
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM sqlite_master WHERE name = 'vms'"), "0");
  auto write = db->exec("CREATE TABLE t (a INTEGER)");
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().code, Errc::permission_denied);
  EXPECT_EQ(write.error().message,
            "running \"CREATE TABLE t (a INTEGER)\": attempt to write a readonly database");
}

TEST(Database, ReadOnlyOpenReportsANewerSchemaVersion) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = 7"));
  }
  auto db = Database::open_read_only(path);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 7);
}

}  // namespace
}  // namespace banger::store
