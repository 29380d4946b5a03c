#include "banger/store/migrations.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <thread>
#include <vector>

#include "banger/store/database.hpp"
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

// banger's migration 1 followed by a test migration 2.
std::array<Migration, 2> with_second(std::string_view name, std::string_view sql) {
  return {all_migrations()[0], Migration{2, name, sql}};
}

TEST(Migrations, VersionsAreConsecutiveFromOne) {
  int expected = 1;
  for (const Migration& migration : all_migrations()) {
    EXPECT_EQ(migration.version, expected++);
    EXPECT_FALSE(migration.name.empty());
  }
  EXPECT_EQ(latest_schema_version(all_migrations()), 5);
  EXPECT_EQ(latest_schema_version({}), 0);
}

TEST(Migrations, FromEmptyCreatesTablesAndRecordsTheMigration) {
  testkit::TempDir dir;
  auto db = Database::open(dir.path() + "/state.db");
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 5);
  EXPECT_EQ(query_text(*db,
                       "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                       "WHERE type = 'table' ORDER BY name)"),
            "images,kernels,schema_migrations,vms");
  EXPECT_EQ(query_text(*db,
                       "SELECT group_concat(version || ':' || name, ';') FROM "
                       "schema_migrations"),
            "1:vms, images and kernels;2:vm backend;3:vm workspace;4:vm publish;5:image ssh");
}

TEST(Migrations, ReopenIsIdempotent) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  for (int i = 0; i < 3; ++i) {
    auto db = Database::open(path);
    ASSERT_TRUE(db) << db.error().message;
    EXPECT_EQ(db->schema_version(), 5);
    EXPECT_EQ(query_text(*db, "SELECT count(*) FROM schema_migrations"), "5");
  }
}

TEST(Migrations, UpgradesAVersionZeroDatabase) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto empty = Database::open(path, {});
    ASSERT_TRUE(empty);
    ASSERT_EQ(empty->schema_version(), 0);
    EXPECT_EQ(query_text(*empty, "SELECT count(*) FROM sqlite_master"), "0");
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 5);
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM vms"), "0");
}

TEST(Migrations, AppendedMigrationUpgradesAVersionOneDatabaseKeepingRows) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto db = Database::open(path, all_migrations().first(1));
    ASSERT_TRUE(db);
    ASSERT_TRUE(
        db->exec("INSERT INTO kernels (name, vmlinux_path, imported_at) "
                 "VALUES ('k', '/k/vmlinux', 1)"));
  }
  auto migrations = with_second("kernel notes", "ALTER TABLE kernels ADD COLUMN note TEXT");
  auto db = Database::open(path, migrations);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 2);
  EXPECT_EQ(query_text(*db, "SELECT name || ':' || ifnull(note, 'null') FROM kernels"), "k:null");
  EXPECT_EQ(query_text(*db, "SELECT group_concat(version) FROM schema_migrations"), "1,2");
}

TEST(Migrations, VersionTwoGivesEveryExistingVmTheQemuBackend) {
  // Given a version 1 database with a VM (written before VMs recorded their backend), then
  // upgrading keeps the row and says it ran under QEMU, the only backend there was.
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto v1 = Database::open(path, all_migrations().first(1));
    ASSERT_TRUE(v1) << v1.error().message;
    ASSERT_TRUE(v1->exec(
        "INSERT INTO vms (id, name, image, kernel, vcpu, memory_mib, disk_size_mib, state, "
        "created_at, touched_at) VALUES ('0123456789abcdef', 'web', 'debian', 'k', 1, 512, "
        "1024, 'stopped', 1, 1)"));
    ASSERT_TRUE(v1->exec(
        "INSERT INTO images (name, rootfs_path, init_flavour, created_at) VALUES ('debian', "
        "'/r.ext4', 'systemd', 1)"));
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db) << db.error().message;
  EXPECT_EQ(db->schema_version(), 5);
  EXPECT_EQ(query_text(*db, "SELECT name || ':' || vmm FROM vms"), "web:qemu");
  // Migration 3: no workspace recorded for VMs from before it.
  EXPECT_EQ(query_text(*db, "SELECT workspace_head || ':' || workspace_prepared_at FROM vms"),
            ":0");
  EXPECT_FALSE(db->exec("UPDATE vms SET vmm = 'bochs'"));  // the CHECK holds
  // Migration 4: nothing published for VMs from before it.
  EXPECT_EQ(query_text(*db, "SELECT '[' || publish || ']' FROM vms"), "[]");
  // Migration 5: every image from before pulls starts sshd.
  EXPECT_EQ(query_text(*db, "SELECT name || ':' || ssh FROM images"), "debian:1");
}

TEST(Migrations, FailedMigrationRollsBackAndKeepsThePreviousVersion) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(Database::open(path, all_migrations().first(1)));
  auto migrations = with_second("broken", "CREATE TABLE t (a); INSERT INTO nope VALUES (1)");
  auto failed = Database::open(path, migrations);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Errc::io);
  EXPECT_EQ(failed.error().message,
            "applying migration 2 (broken) to state.db: running \"CREATE TABLE t (a); INSERT INTO "
            "nope VALUES (1)\": no such table: nope");
  auto db = Database::open(path, all_migrations().first(1));
  ASSERT_TRUE(db);
  EXPECT_EQ(db->schema_version(), 1);
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM sqlite_master WHERE name = 't'"), "0");
}

TEST(Migrations, RefusesADatabaseNewerThanThisBanger) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("PRAGMA user_version = 7"));
  }
  auto db = Database::open(path);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code, Errc::failed_precondition);
  EXPECT_EQ(db.error().message,
            "state.db has schema version 7, this banger knows up to 5: upgrade banger");
}

TEST(Migrations, ConcurrentOpensApplyEachMigrationOnce) {
  testkit::TempDir dir;
  std::string path = dir.path() + "/state.db";
  constexpr int kThreads = 8;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto db = Database::open(path);
      if (!db) {
        errors[i] = db.error().message;
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  for (const auto& error : errors) {
    EXPECT_EQ(error, "");
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(query_text(*db, "SELECT count(*) FROM schema_migrations"), "5");
}

}  // namespace
}  // namespace banger::store
