#include "banger/kernelcat/initramfs_plan.hpp"

#include "banger/kernelcat/initramfs_init.hpp"
#include "banger/kernelcat/modules_order.hpp"

namespace banger::kernelcat {

std::vector<CpioEntry> plan_initramfs_entries(const std::string& busybox_path,
                                              std::vector<InitramfsModule> modules) {
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
  return entries;
}

}  // namespace banger::kernelcat
