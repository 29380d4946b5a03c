#include "banger/store/vm_repository.hpp"

#include <fmt/format.h>

#include "banger/base/expected.hpp"

namespace banger::store {
namespace {

// Column order shared by SELECT, INSERT and UPDATE (id is last in UPDATE's WHERE).
constexpr std::string_view kColumns =
    "id, name, image, kernel, vcpu, memory_mib, disk_size_mib, rootfs_overlay_size_mib, nat, "
    "guest_ip, mac, agent_cid, agent_port, state, last_error, created_at, touched_at, "
    "workspace_path, workspace_repo, tap_name, overlay_path, vmm_pid, vmm_start_time, "
    "rootfs_strategy, vmm, workspace_head, workspace_branch, workspace_prepared_at, publish";

// Binds every field but id, starting at parameter `first`.
Status bind_fields(Statement& stmt, const model::Vm& vm, int first) {
  int i = first;
  BANGER_TRY(stmt.bind(i++, vm.name));
  BANGER_TRY(stmt.bind(i++, vm.image));
  BANGER_TRY(stmt.bind(i++, vm.kernel));
  BANGER_TRY(stmt.bind(i++, std::int64_t{vm.vcpu}));
  BANGER_TRY(stmt.bind(i++, vm.memory_mib));
  BANGER_TRY(stmt.bind(i++, vm.disk_size_mib));
  BANGER_TRY(stmt.bind(i++, vm.rootfs_overlay_size_mib));
  BANGER_TRY(stmt.bind(i++, std::int64_t{vm.nat ? 1 : 0}));
  BANGER_TRY(stmt.bind(i++, vm.guest_ip));
  BANGER_TRY(stmt.bind(i++, vm.mac));
  BANGER_TRY(stmt.bind(i++, std::int64_t{vm.agent_cid}));
  BANGER_TRY(stmt.bind(i++, std::int64_t{vm.agent_port}));
  BANGER_TRY(stmt.bind(i++, model::to_string(vm.state)));
  BANGER_TRY(stmt.bind(i++, vm.last_error));
  BANGER_TRY(stmt.bind(i++, vm.created_at));
  BANGER_TRY(stmt.bind(i++, vm.touched_at));
  BANGER_TRY(stmt.bind(i++, vm.workspace_path));
  BANGER_TRY(stmt.bind(i++, vm.workspace_repo));
  BANGER_TRY(stmt.bind(i++, vm.tap_name));
  BANGER_TRY(stmt.bind(i++, vm.overlay_path));
  BANGER_TRY(stmt.bind(i++, std::int64_t{vm.vmm_pid}));
  // /proc starttime is in clock ticks since boot: far below 2^63.
  BANGER_TRY(stmt.bind(i++, static_cast<std::int64_t>(vm.vmm_start_time)));
  BANGER_TRY(stmt.bind(i++, vm.rootfs_strategy));
  BANGER_TRY(stmt.bind(i++, model::to_string(vm.vmm)));
  BANGER_TRY(stmt.bind(i++, vm.workspace_head));
  BANGER_TRY(stmt.bind(i++, vm.workspace_branch));
  BANGER_TRY(stmt.bind(i++, vm.workspace_prepared_at));
  BANGER_TRY(stmt.bind(i++, model::join_port_forwards(vm.publish)));
  return {};
}

Expected<model::Vm> read_row(const Statement& stmt) {
  model::Vm vm;
  int i = 0;
  vm.id = stmt.column_text(i++);
  vm.name = stmt.column_text(i++);
  vm.image = stmt.column_text(i++);
  vm.kernel = stmt.column_text(i++);
  vm.vcpu = static_cast<int>(stmt.column_int64(i++));
  vm.memory_mib = stmt.column_int64(i++);
  vm.disk_size_mib = stmt.column_int64(i++);
  vm.rootfs_overlay_size_mib = stmt.column_int64(i++);
  vm.nat = stmt.column_int64(i++) != 0;
  vm.guest_ip = stmt.column_text(i++);
  vm.mac = stmt.column_text(i++);
  vm.agent_cid = static_cast<int>(stmt.column_int64(i++));
  vm.agent_port = static_cast<int>(stmt.column_int64(i++));
  std::string state = stmt.column_text(i++);
  auto parsed = model::parse_vm_state(state);
  if (!parsed) {
    return fail(Errc::internal,
                fmt::format("vm \"{}\" has unknown state \"{}\" in the store", vm.name, state));
  }
  vm.state = *parsed;
  vm.last_error = stmt.column_text(i++);
  vm.created_at = stmt.column_int64(i++);
  vm.touched_at = stmt.column_int64(i++);
  vm.workspace_path = stmt.column_text(i++);
  vm.workspace_repo = stmt.column_text(i++);
  vm.tap_name = stmt.column_text(i++);
  vm.overlay_path = stmt.column_text(i++);
  vm.vmm_pid = static_cast<int>(stmt.column_int64(i++));
  vm.vmm_start_time = static_cast<std::uint64_t>(stmt.column_int64(i++));
  vm.rootfs_strategy = stmt.column_text(i++);
  std::string vmm = stmt.column_text(i++);
  auto backend = model::parse_vmm_backend(vmm);
  if (!backend) {
    return fail(Errc::internal,
                fmt::format("vm \"{}\" has unknown vmm \"{}\" in the store", vm.name, vmm));
  }
  vm.vmm = *backend;
  vm.workspace_head = stmt.column_text(i++);
  vm.workspace_branch = stmt.column_text(i++);
  vm.workspace_prepared_at = stmt.column_int64(i++);
  std::string publish = stmt.column_text(i++);
  auto forwards = model::split_port_forwards(publish);
  if (!forwards) {
    return fail(Errc::internal,
                fmt::format("vm \"{}\" has unreadable published ports \"{}\" in the store", vm.name,
                            publish));
  }
  vm.publish = std::move(*forwards);
  return vm;
}

tl::unexpected<Error> not_found(const std::string& name_or_id) {
  return fail(Errc::not_found, fmt::format("vm \"{}\" not found", name_or_id));
}

}  // namespace

Status VmRepository::insert(const model::Vm& vm) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare(fmt::format(
                                   "INSERT INTO vms ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                   "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   kColumns)));
  BANGER_TRY(stmt.bind(1, vm.id));
  BANGER_TRY(bind_fields(stmt, vm, 2));
  auto done = stmt.step();
  if (!done) {
    if (done.error().code == Errc::already_exists) {
      BANGER_TRY_ASSIGN(bool taken, name_taken(vm.name));
      if (taken) {
        return fail(Errc::already_exists, fmt::format("vm \"{}\" already exists", vm.name));
      }
      return fail(Errc::already_exists, fmt::format("vm id {} already exists", vm.id));
    }
    return tl::unexpected(with_context(done.error(), fmt::format("saving vm \"{}\"", vm.name)));
  }
  return {};
}

Expected<std::vector<model::Vm>> VmRepository::query(const std::string& sql_tail,
                                                     const std::optional<std::string>& arg) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare(fmt::format("SELECT {} FROM vms {}", kColumns, sql_tail)));
  if (arg) {
    BANGER_TRY(stmt.bind(1, *arg));
  }
  std::vector<model::Vm> vms;
  while (true) {
    BANGER_TRY_ASSIGN(bool row, stmt.step());
    if (!row) {
      break;
    }
    BANGER_TRY_ASSIGN(auto vm, read_row(stmt));
    vms.push_back(std::move(vm));
  }
  return vms;
}

Expected<model::Vm> VmRepository::get(const std::string& id) {
  BANGER_TRY_ASSIGN(auto vms, query("WHERE id = ?", id));
  if (vms.empty()) {
    return not_found(id);
  }
  return std::move(vms.front());
}

Expected<model::Vm> VmRepository::find_by_name(const std::string& name) {
  BANGER_TRY_ASSIGN(auto vms, query("WHERE name = ?", name));
  if (vms.empty()) {
    return not_found(name);
  }
  return std::move(vms.front());
}

Expected<std::vector<model::Vm>> VmRepository::find_by_id_prefix(const std::string& prefix) {
  if (prefix.empty()) {
    return std::vector<model::Vm>{};
  }
  // substr() instead of LIKE: no wildcard escaping to get wrong.
  return query("WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id", prefix);
}

Expected<std::vector<model::Vm>> VmRepository::list() {
  return query("ORDER BY created_at, name", std::nullopt);
}

Status VmRepository::update(const model::Vm& vm) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(
      auto stmt,
      db_.prepare("UPDATE vms SET name = ?, image = ?, kernel = ?, vcpu = ?, "
                  "memory_mib = ?, disk_size_mib = ?, rootfs_overlay_size_mib = ?, "
                  "nat = ?, guest_ip = ?, mac = ?, agent_cid = ?, agent_port = ?, "
                  "state = ?, last_error = ?, created_at = ?, touched_at = MAX(touched_at, ?), "
                  "workspace_path = ?, workspace_repo = ?, tap_name = ?, "
                  "overlay_path = ?, vmm_pid = ?, vmm_start_time = ?, "
                  "rootfs_strategy = ?, vmm = ?, workspace_head = ?, workspace_branch = ?, "
                  "workspace_prepared_at = ?, publish = ? WHERE id = ?"));
  BANGER_TRY(bind_fields(stmt, vm, 1));
  BANGER_TRY(stmt.bind(29, vm.id));
  auto done = stmt.step();
  if (!done) {
    if (done.error().code == Errc::already_exists) {
      return fail(Errc::already_exists, fmt::format("vm \"{}\" already exists", vm.name));
    }
    return tl::unexpected(with_context(done.error(), fmt::format("saving vm \"{}\"", vm.name)));
  }
  if (db_.changes() == 0) {
    return not_found(vm.name);
  }
  return {};
}

Status VmRepository::touch(const std::string& id, std::int64_t at) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt,
                    db_.prepare("UPDATE vms SET touched_at = MAX(touched_at, ?) WHERE id = ?"));
  BANGER_TRY(stmt.bind(1, at));
  BANGER_TRY(stmt.bind(2, id));
  BANGER_TRY(stmt.step().map_error(
      [&](Error e) { return with_context(std::move(e), fmt::format("touching vm {}", id)); }));
  if (db_.changes() == 0) {
    return not_found(id);
  }
  return {};
}

Status VmRepository::remove(const std::string& id) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("DELETE FROM vms WHERE id = ?"));
  BANGER_TRY(stmt.bind(1, id));
  BANGER_TRY(stmt.step());
  if (db_.changes() == 0) {
    return not_found(id);
  }
  return {};
}

Expected<bool> VmRepository::name_taken(const std::string& name) {
  auto guard = db_.lock();
  BANGER_TRY_ASSIGN(auto stmt, db_.prepare("SELECT 1 FROM vms WHERE name = ?"));
  BANGER_TRY(stmt.bind(1, name));
  return stmt.step();
}

}  // namespace banger::store
