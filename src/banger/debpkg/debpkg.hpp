// Debian packages without installing them: resolve and download through the host's apt
// (apt-cache / apt-get download, never naming a mirror) and unpack a .deb's data.tar
// in-process with libarchive into a directory of our choosing.
#pragma once

#include <string>
#include <vector>

#include "banger/base/error.hpp"
#include "banger/base/progress.hpp"
#include "banger/sys/command_runner.hpp"

namespace banger::debpkg {

// The first dependency of meta_package whose name starts with prefix, from
// `apt-cache depends <meta_package>` ("  Depends: linux-image-6.1.0-28-cloud-amd64").
// ("linux-image-cloud-amd64", "linux-image-") -> "linux-image-6.1.0-28-cloud-amd64".
// not_found: apt-cache is missing (names the package to install), the package is unknown to
// the host's apt ("package <p> not found by apt-cache: run apt-get update or check the host's
// apt sources"), or it has no such dependency; command_failed: apt-cache failed otherwise.
Expected<std::string> resolve_dependency(sys::CommandRunner& runner,
                                         const std::string& meta_package,
                                         const std::string& prefix);

// The candidate version of package from `apt-cache policy <package>` ("1:1.35.0-4+b1").
// not_found: apt-cache is missing, the package is unknown or has no candidate ("(none)").
Expected<std::string> candidate_version(sys::CommandRunner& runner, const std::string& package);

// Runs `apt-get download <packages...>` in dest_dir (which must exist) with the host's apt
// configuration, and returns the downloaded .deb paths in the order of packages. Timeout: 10
// minutes. With progress, first asks `apt-get download --print-uris` for the bytes to fetch,
// then reports stage "download" in bytes (unit base::kBytes): 0 of the total at the start, the
// bytes on disk every 100 ms while they grow, and all of them at the end (total 0 when apt
// could not say).
// invalid_argument: no packages; not_found: apt-get is missing (names the apt package) or a
// package is unknown ("package <p> not found ..."); command_failed: apt-get failed otherwise
// (stderr tail); timeout: apt-get took too long; io: dest_dir cannot be listed.
Expected<std::vector<std::string>> download(sys::CommandRunner& runner,
                                            const std::vector<std::string>& packages,
                                            const std::string& dest_dir,
                                            const base::ProgressFn& progress = {});

// The package file name part of a .deb path ("/x/busybox-static_1%3a1.35_amd64.deb" ->
// "busybox-static"); empty when the name has no '_'.
std::string package_of_deb(const std::string& deb_path);

// Unpacks the data.tar.{xz,zst,gz,bz2} (or plain data.tar) member of the .deb at deb_path
// into dest_dir (created if missing) with unpack::extract_tar (see its contract): in-process,
// without changing the working directory; every entry's path (and hard-link target) is
// validated and re-rooted under dest_dir.
// Preserves permission bits and mtimes, symlinks and hard links. Ownership is NOT restored
// (files belong to the caller; setuid/setgid bits are dropped by libarchive as a result): the
// users (kernel initramfs, tiny image) re-own everything as root when packing. Extracting
// through a symlink is refused.
// not_found: deb_path is missing; invalid_argument: an absolute or ".." entry
// ("unsafe path <entry> in package <name>"), or a corrupt/truncated package
// ("corrupt package <name>: <why>"); io: writing below dest_dir failed.
Status extract_deb(const std::string& deb_path, const std::string& dest_dir);

}  // namespace banger::debpkg
