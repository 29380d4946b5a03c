// In-process initramfs writer: a gzip-compressed newc cpio archive built with libarchive.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "banger/base/error.hpp"

namespace banger::kernelcat {

// One archive member; all members are owned by uid/gid 0 with mtime 0.
struct CpioEntry {
  enum class Type { directory, regular, symlink, char_device };
  Type type = Type::regular;
  std::string path;         // relative, e.g. "bin/busybox" (no leading '/', no "." or "..")
  mode_t mode = 0644;       // permission bits (07777)
  std::string content;      // regular: used when source_path is empty
  std::string source_path;  // regular: host file copied in
  std::string target;       // symlink target
  unsigned dev_major = 0;   // char_device
  unsigned dev_minor = 0;   // char_device

  static CpioEntry dir(std::string path, mode_t mode = 0755);
  static CpioEntry file(std::string path, std::string content, mode_t mode = 0644);
  static CpioEntry host_file(std::string path, std::string source_path, mode_t mode = 0644);
  static CpioEntry symlink(std::string path, std::string target);
  static CpioEntry char_device(std::string path, unsigned major, unsigned minor,
                               mode_t mode = 0600);
};

// Writes entries, in order, to out_path (replaced atomically). Every parent directory must be
// listed before its children, as the kernel's unpacker does not create parents.
// invalid_argument: a bad path, a duplicate, a missing parent or a mode outside 07777;
// not_found / io: a source_path cannot be read or out_path cannot be written (messages name it).
Status write_initramfs(const std::string& out_path, const std::vector<CpioEntry>& entries);

}  // namespace banger::kernelcat
