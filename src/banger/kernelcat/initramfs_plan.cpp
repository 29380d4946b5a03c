#include "banger/kernelcat/initramfs_plan.hpp"

#include <set>

#include "banger/kernelcat/initramfs_init.hpp"
#include "banger/kernelcat/modules_order.hpp"

namespace banger::kernelcat {

std::string guest_modules_stamp(const GuestModuleTree& tree) {
  std::string out =
      "banger guest modules\nrelease " + tree.release + "\nsource " + tree.source + "\n";
  for (const auto& file : tree.files) {
    out += file.relative + "\n";
  }
  return out;
}

std::vector<CpioEntry> plan_initramfs_entries(const std::string& busybox_path,
                                              std::vector<InitramfsModule> modules,
                                              const GuestModuleTree& guest) {
  std::vector<CpioEntry> entries = {
      CpioEntry::dir("bin"),
      CpioEntry::dir("dev"),
      CpioEntry::dir("proc"),
      CpioEntry::dir("sys"),
      CpioEntry::dir("newroot"),
      CpioEntry::dir("lib"),
      CpioEntry::dir("lib/modules"),
      CpioEntry::host_file("bin/busybox", busybox_path, 0755),
      CpioEntry::file("init", std::string(initramfs_init_script()), 0755),
      CpioEntry::char_device("dev/console", 5, 1, 0600),
  };
  std::string load_order;
  for (auto& module : modules) {
    std::string file = module_file_name(module.relative);
    entries.push_back(CpioEntry::file("lib/modules/" + file, std::move(module.content), 0644));
    load_order += file + "\n";
  }
  entries.push_back(CpioEntry::file(std::string(kModulesLoadOrderPath), load_order, 0644));
  if (guest.files.empty()) {
    return entries;
  }
  const std::string base = "lib/modules/" + guest.release;
  std::set<std::string> dirs = {base};
  entries.push_back(CpioEntry::dir(base));
  for (const auto& file : guest.files) {
    // Parents first: "a/b/c.ko" needs base/a, then base/a/b.
    for (auto slash = file.relative.find('/'); slash != std::string::npos;
         slash = file.relative.find('/', slash + 1)) {
      std::string dir = base + "/" + file.relative.substr(0, slash);
      if (dirs.insert(dir).second) {
        entries.push_back(CpioEntry::dir(dir));
      }
    }
    entries.push_back(CpioEntry::host_file(base + "/" + file.relative, file.source_path, 0644));
  }
  entries.push_back(CpioEntry::file(base + "/" + std::string(kGuestModulesStamp),
                                    guest_modules_stamp(guest), 0644));
  return entries;
}

}  // namespace banger::kernelcat
