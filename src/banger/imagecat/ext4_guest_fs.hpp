// Ext4GuestFs: GuestFs edits made straight in an ext4 image being built (through
// ext4::Ext4Writer), for builders that write the image without a staging tree (OciBuilder).
// Links resolve inside the image as the guest would resolve them (an absolute link starts at
// the image's root). New entries are root-owned and get the current time.
#pragma once

#include <utility>

#include "banger/ext4/writer.hpp"
#include "banger/imagecat/guest_tree.hpp"

namespace banger::imagecat {

class Ext4GuestFs final : public GuestFs {
 public:
  explicit Ext4GuestFs(ext4::Ext4Writer writer) : writer_(std::move(writer)) {}

  Status write_file(std::string_view guest_path, std::string_view content, mode_t mode) override;
  Status make_dirs(std::string_view guest_path, mode_t mode) override;
  Status symlink(std::string_view guest_path, std::string_view target) override;
  Status remove(std::string_view guest_path) override;
  bool exists(std::string_view guest_path) override;
  bool is_regular(std::string_view guest_path) override;
  bool is_executable(std::string_view guest_path) override;
  Expected<std::string> read_file(std::string_view guest_path,
                                  std::size_t max_bytes = 1 << 16) override;
  Expected<std::vector<std::string>> list(std::string_view guest_path) override;

  ext4::Ext4Writer& writer() { return writer_; }
  // Writes everything out and closes the image (Ext4Writer::close).
  Status close() { return writer_.close(); }

 private:
  struct Parent {
    ext4::Ino dir = 0;
    std::string name;
  };
  // The directory of guest_path (links followed) and its last component; invalid_argument for
  // "/" or a bad path; with create, missing directories are made like make_dirs with 0755.
  Expected<Parent> parent(std::string_view guest_path, bool create);
  // mkdir -p of guest_path; returns the directory's inode.
  Expected<ext4::Ino> ensure_dirs(std::string_view guest_path, mode_t mode);
  ext4::InodeMeta new_meta(mode_t mode) const;

  ext4::Ext4Writer writer_;
};

}  // namespace banger::imagecat
