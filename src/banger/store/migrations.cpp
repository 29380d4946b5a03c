#include "banger/store/migrations.hpp"

#include <fmt/format.h>

#include <array>
#include <chrono>

#include "banger/base/expected.hpp"
#include "banger/store/database.hpp"

namespace banger::store {
namespace {

// Append only. Never edit a migration that has shipped; add the next one instead.
constexpr std::array<Migration, 5> kMigrations = {{
    {1, "vms, images and kernels", R"sql(
CREATE TABLE vms (
  id                      TEXT PRIMARY KEY NOT NULL,
  name                    TEXT NOT NULL UNIQUE,
  image                   TEXT NOT NULL,
  kernel                  TEXT NOT NULL,
  vcpu                    INTEGER NOT NULL,
  memory_mib              INTEGER NOT NULL,
  disk_size_mib           INTEGER NOT NULL,
  rootfs_overlay_size_mib INTEGER NOT NULL DEFAULT 0,
  nat                     INTEGER NOT NULL DEFAULT 0,
  guest_ip                TEXT NOT NULL DEFAULT '',
  mac                     TEXT NOT NULL DEFAULT '',
  agent_cid               INTEGER NOT NULL DEFAULT 0,
  agent_port              INTEGER NOT NULL DEFAULT 0,
  state                   TEXT NOT NULL CHECK (state IN
                            ('created', 'starting', 'running', 'stopping', 'stopped', 'error')),
  last_error              TEXT NOT NULL DEFAULT '',
  created_at              INTEGER NOT NULL,
  touched_at              INTEGER NOT NULL,
  workspace_path          TEXT NOT NULL DEFAULT '',
  workspace_repo          TEXT NOT NULL DEFAULT '',
  tap_name                TEXT NOT NULL DEFAULT '',
  overlay_path            TEXT NOT NULL DEFAULT '',
  vmm_pid                 INTEGER NOT NULL DEFAULT 0,
  vmm_start_time          INTEGER NOT NULL DEFAULT 0,
  rootfs_strategy         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE images (
  name              TEXT PRIMARY KEY NOT NULL,
  rootfs_path       TEXT NOT NULL,
  work_seed_path    TEXT NOT NULL DEFAULT '',
  kernel_ref        TEXT NOT NULL DEFAULT '',
  distro            TEXT NOT NULL DEFAULT '',
  init_flavour      TEXT NOT NULL CHECK (init_flavour IN ('systemd', 'busybox')),
  extra_kernel_args TEXT NOT NULL DEFAULT '',
  managed           INTEGER NOT NULL DEFAULT 0,
  size_bytes        INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL
);
CREATE TABLE kernels (
  name         TEXT PRIMARY KEY NOT NULL,
  distro       TEXT NOT NULL DEFAULT '',
  arch         TEXT NOT NULL DEFAULT '',
  version      TEXT NOT NULL DEFAULT '',
  vmlinux_path TEXT NOT NULL,
  initrd_path  TEXT NOT NULL DEFAULT '',
  sha256       TEXT NOT NULL DEFAULT '',
  source       TEXT NOT NULL DEFAULT '',
  imported_at  INTEGER NOT NULL
);
)sql"},
    // Rows from before it ran under QEMU, the only backend there was.
    {2, "vm backend", R"sql(
ALTER TABLE vms ADD COLUMN vmm TEXT NOT NULL DEFAULT 'qemu'
  CHECK (vmm IN ('qemu', 'firecracker'));
)sql"},
    // What `vm run <path>` / `vm workspace prepare` copied (workspace_path and workspace_repo
    // exist since migration 1): the host HEAD at copy time, the guest branch, when.
    {3, "vm workspace", R"sql(
ALTER TABLE vms ADD COLUMN workspace_head TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN workspace_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE vms ADD COLUMN workspace_prepared_at INTEGER NOT NULL DEFAULT 0;
)sql"},
    // `--publish` host ports forwarded at every start (model::join_port_forwards' text:
    // "127.0.0.1:8080:80,...", "" for none; docs/forwarding.md).
    {4, "vm publish", R"sql(
ALTER TABLE vms ADD COLUMN publish TEXT NOT NULL DEFAULT '';
)sql"},
    // Whether the image starts sshd (model::Image::ssh); every image before pulls did.
    {5, "image ssh", R"sql(
ALTER TABLE images ADD COLUMN ssh INTEGER NOT NULL DEFAULT 1;
)sql"},
}};

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
    "NULL, applied_at INTEGER NOT NULL)";

Status refuse_newer(const Database& db, int version, int latest) {
  if (version > latest) {
    return fail(Errc::failed_precondition,
                fmt::format("{} has schema version {}, this banger knows up to {}: upgrade banger",
                            db.display_name(), version, latest));
  }
  return {};
}

Status apply(Database& db, const Migration& migration) {
  return db.transaction([&]() -> Status {
    // Re-read inside the write lock: another process may have applied it meanwhile.
    BANGER_TRY_ASSIGN(int current, read_user_version(db));
    if (current >= migration.version) {
      return {};
    }
    BANGER_TRY(db.exec(kCreateMigrationsTable));
    BANGER_TRY(db.exec(migration.sql));
    BANGER_TRY_ASSIGN(
        auto record,
        db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"));
    BANGER_TRY(record.bind(1, std::int64_t{migration.version}));
    BANGER_TRY(record.bind(2, migration.name));
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    BANGER_TRY(record.bind(3, std::int64_t{now.count()}));
    BANGER_TRY(record.step());
    return db.exec(fmt::format("PRAGMA user_version = {}", migration.version));
  });
}

}  // namespace

Expected<int> read_user_version(Database& db) {
  auto guard = db.lock();
  BANGER_TRY_ASSIGN(auto stmt, db.prepare("PRAGMA user_version"));
  BANGER_TRY_ASSIGN(bool row, stmt.step());
  if (!row) {
    return fail(Errc::internal, "PRAGMA user_version returned no row");
  }
  return static_cast<int>(stmt.column_int64(0));
}

std::span<const Migration> all_migrations() { return kMigrations; }

int latest_schema_version(std::span<const Migration> migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

Status migrate(Database& db, std::span<const Migration> migrations) {
  auto guard = db.lock();
  int latest = latest_schema_version(migrations);
  BANGER_TRY_ASSIGN(int version, read_user_version(db));
  BANGER_TRY(refuse_newer(db, version, latest));
  for (const Migration& migration : migrations) {
    if (migration.version <= version) {
      continue;
    }
    if (auto applied = apply(db, migration); !applied) {
      return tl::unexpected(with_context(
          applied.error(), fmt::format("applying migration {} ({}) to {}", migration.version,
                                       migration.name, db.display_name())));
    }
  }
  BANGER_TRY_ASSIGN(version, read_user_version(db));
  // A newer banger may have migrated past us between the first check and now.
  BANGER_TRY(refuse_newer(db, version, latest));
  db.set_schema_version(version);
  return {};
}

}  // namespace banger::store
