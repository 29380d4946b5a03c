// Test support for kernelcat's tests (not part of the library): small archives written with
// libarchive in memory — an xz stream, a tar, a .deb.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <utility>
#include <vector>

namespace banger::kernelcat::test_archives {

// data compressed with an xz stream (libarchive raw writer).
inline std::string xz(const std::string& data) {
  std::vector<char> buffer(data.size() + 4096);
  std::size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_raw(a);
  archive_write_add_filter_xz(a);
  archive_write_open_memory(a, buffer.data(), buffer.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_filetype(e, AE_IFREG);
  archive_write_header(a, e);
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buffer.data(), used);
}

struct Member {
  std::string path;
  std::string content;  // regular file; a path ending in '/' is a directory
  std::string symlink;  // when set: a symlink to this target (content ignored)
};

// An xz-compressed GNU tar of members.
inline std::string tar_xz(const std::vector<Member>& members) {
  std::size_t bytes = 1 << 16;
  for (const auto& m : members) {
    bytes += m.content.size() + 1024;
  }
  std::vector<char> tar(bytes);
  std::size_t used = 0;
  archive* t = archive_write_new();
  archive_write_set_format_gnutar(t);
  archive_write_add_filter_xz(t);
  archive_write_open_memory(t, tar.data(), tar.size(), &used);
  for (const auto& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    const bool dir = m.path.back() == '/';
    if (!m.symlink.empty()) {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, m.symlink.c_str());
    } else {
      archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
      archive_entry_set_size(e, dir ? 0 : static_cast<la_int64_t>(m.content.size()));
    }
    archive_entry_set_perm(e, 0755);
    archive_write_header(t, e);
    if (m.symlink.empty() && !dir) {
      archive_write_data(t, m.content.data(), m.content.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(t);
  archive_write_free(t);
  return std::string(tar.data(), used);
}

// A .deb (ar: debian-binary, data.tar.xz) holding members.
inline void write_deb(const std::string& path, const std::vector<Member>& members) {
  archive* a = archive_write_new();
  archive_write_set_format_ar_svr4(a);
  archive_write_open_filename(a, path.c_str());
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"debian-binary", "2.0\n"}, {"data.tar.xz", tar_xz(members)}}) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace banger::kernelcat::test_archives
