// RPC method structs for kernels (SPEC S10): kernel.list, kernel.catalog, kernel.show,
// kernel.pull, kernel.build, kernel.import, kernel.delete (docs/rpc.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "banger/api/image.hpp"  // BundleRequest, BundleResponse

namespace banger::api {

// A stored kernel as the CLI sees it.
struct KernelInfo {
  std::string name;
  std::string distro;       // "debian", "unknown"
  std::string arch;         // "x86_64"
  std::string version;      // kernel release, "6.1.0-28-cloud-amd64" ("" when unknown)
  std::string sha256;       // of vmlinux
  std::string source;       // "debian-cloud: linux-image-6.1.0-28-cloud-amd64 6.1.119-1"
  std::string imported_at;  // RFC 3339 UTC
  std::string vmlinux_path;
  std::string initrd_path;      // "" when the kernel has no initramfs
  std::int64_t size_bytes = 0;  // vmlinux + initrd.img
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("distro", distro);
    v("arch", arch);
    v("version", version);
    v("sha256", sha256);
    v("source", source);
    v("imported_at", imported_at);
    v("vmlinux_path", vmlinux_path);
    v("initrd_path", initrd_path);
    v("size_bytes", size_bytes);
  }
};

// A kernel `kernel pull` can make.
struct KernelCatalogEntry {
  std::string name;         // "debian-cloud"
  std::string description;  // one line
  std::string distro;
  std::string arch;
  std::string source;   // where it comes from: "debian package linux-image-cloud-amd64"
  bool pulled = false;  // a kernel of this name is stored
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("distro", distro);
    v("arch", arch);
    v("description", description);
    v("source", source);
    v("pulled", pulled);
  }
};

// Stored kernels by name; with available, also the catalog entries.
struct KernelList {
  static constexpr std::string_view kMethod = "kernel.list";
  struct Request {
    bool available = false;
    template <class V>
    void fields(V& v) {
      v("available", available);
    }
  };
  struct Response {
    std::vector<KernelInfo> kernels;
    std::vector<KernelCatalogEntry> available;  // empty unless requested
    template <class V>
    void fields(V& v) {
      v("kernels", kernels);
      v("available", available);
    }
  };
};

// The built-in catalog entries.
struct KernelCatalog {
  static constexpr std::string_view kMethod = "kernel.catalog";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<KernelCatalogEntry> entries;
    template <class V>
    void fields(V& v) {
      v("entries", entries);
    }
  };
};

// One stored kernel; with verify, its files are re-hashed first.
struct KernelShow {
  static constexpr std::string_view kMethod = "kernel.show";
  struct Request {
    std::string name;
    bool verify = false;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("verify", verify);
    }
  };
  struct Response {
    KernelInfo kernel;
    bool verified = false;  // true when verify was asked for and the hashes match
    template <class V>
    void fields(V& v) {
      v("kernel", kernel);
      v("verified", verified);
    }
  };
};

// Pulls a catalog kernel (builds it from the host's Debian archive). Streams events.
struct KernelPull {
  static constexpr std::string_view kMethod = "kernel.pull";
  struct Request {
    std::string name;
    bool force = false;  // rebuild even when the stored kernel is up to date
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("force", force);
    }
  };
  struct Response {
    KernelInfo kernel;
    bool up_to_date = false;  // nothing was done: the stored kernel has this package version
    template <class V>
    void fields(V& v) {
      v("kernel", kernel);
      v("up_to_date", up_to_date);
    }
  };
};

// Builds a kernel with every driver built in (kernel build). Streams events (stage "compile"
// counts compiled objects).
struct KernelBuild {
  static constexpr std::string_view kMethod = "kernel.build";
  struct Request {
    std::string name;
    std::string from = "debian-source";  // or an absolute path to a Linux source tarball
    std::string config = "firecracker";  // or an absolute path to a kernel config file
    int jobs = 0;                        // make -j; 0 = one per CPU of the daemon's host
    bool force = false;                  // compile again (no cache); replace a kernel of that name
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("from", from);
      v("config", config);
      v("jobs", jobs);
      v("force", force);
    }
  };
  struct Response {
    KernelInfo kernel;
    bool up_to_date = false;  // the stored kernel was built from the same source and config
    bool from_cache = false;  // the vmlinux came from the build cache
    template <class V>
    void fields(V& v) {
      v("kernel", kernel);
      v("up_to_date", up_to_date);
      v("from_cache", from_cache);
    }
  };
};

// Imports vmlinux [+ initrd.img] from a directory on the daemon's host.
struct KernelImport {
  static constexpr std::string_view kMethod = "kernel.import";
  struct Request {
    std::string name;    // required with from; with bundle "" = the bundle's
    std::string from;    // absolute directory path holding vmlinux [+ initrd.img], or
    std::string bundle;  // absolute path of a kernel bundle (.tar.zst): exactly one of the two
    bool force = false;  // bundle only: replace a kernel of that name
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("from", from);
      v("bundle", bundle);
      v("force", force);
    }
  };
  struct Response {
    KernelInfo kernel;
    template <class V>
    void fields(V& v) {
      v("kernel", kernel);
    }
  };
};

// Writes a kernel as a bundle into output_dir and, with catalog, records its entry there.
// Streams events.
struct KernelBundle {
  static constexpr std::string_view kMethod = "kernel.bundle";
  using Request = BundleRequest;
  using Response = BundleResponse;
};

// Deletes a kernel no image or VM uses.
struct KernelDelete {
  static constexpr std::string_view kMethod = "kernel.delete";
  struct Request {
    std::string name;
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    std::string deleted;  // the name
    template <class V>
    void fields(V& v) {
      v("deleted", deleted);
    }
  };
};

}  // namespace banger::api
