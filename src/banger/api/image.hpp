// RPC method structs for images: image.build, image.pull, image.register, image.promote,
// image.list, image.show, image.delete, image.bundle, image.import, image.catalog
// (docs/rpc.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace banger::api {

// An image as the CLI sees it.
struct ImageInfo {
  std::string name;
  std::string distro;        // "debian", "unknown", ...
  std::string init_flavour;  // "systemd" or "busybox"
  std::string kernel;        // the kernel it boots with by default
  std::string extra_kernel_args;
  bool managed = false;  // lives in banger's state dir (built or promoted)
  std::string rootfs_path;
  std::int64_t size_bytes = 0;  // apparent size of rootfs.ext4
  std::string created_at;       // RFC 3339 UTC
  bool ssh = true;              // starts sshd at boot; false: reached through the agent only
  // image.show only: where it came from ("recipe tiny", "<oci ref>@sha256:...", "" when
  // registered) and a pulled image's recorded Entrypoint and Cmd (not run by banger).
  std::string source;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("distro", distro);
    v("init_flavour", init_flavour);
    v("kernel", kernel);
    v("extra_kernel_args", extra_kernel_args);
    v("managed", managed);
    v("rootfs_path", rootfs_path);
    v("size_bytes", size_bytes);
    v("created_at", created_at);
    v("ssh", ssh);
    v("source", source);
    v("entrypoint", entrypoint);
    v("cmd", cmd);
  }
};

// Builds an image from a built-in recipe (tiny, debian-bookworm). Streams events.
struct ImageBuild {
  static constexpr std::string_view kMethod = "image.build";
  struct Request {
    std::string recipe;
    std::string name;                   // "" = the recipe name
    std::vector<std::string> packages;  // extra Debian packages (debian recipes)
    bool force = false;                 // rebuild an existing image of that name
    template <class V>
    void fields(V& v) {
      v("recipe", recipe);
      v("name", name);
      v("packages", packages);
      v("force", force);
    }
  };
  struct Response {
    ImageInfo image;
    template <class V>
    void fields(V& v) {
      v("image", image);
    }
  };
};

// Pulls an OCI/Docker image from a registry (S11, ADR 0010). Streams events.
struct ImagePull {
  static constexpr std::string_view kMethod = "image.pull";
  struct Request {
    std::string reference;  // "debian:bookworm", "ghcr.io/acme/runner:v1@sha256:..."
    std::string name;       // "" = derived from the reference ("debian-bookworm")
    std::string kernel;     // "" = the default kernel for pulled images
    std::string platform;   // "" or "linux/amd64"
    std::string size;       // "" = content x 1.5, at least 1 GiB; else "2G", "512M", ...
    std::string username;   // registry credentials ("" = anonymous); the CLI reads
    std::string password;   // --password-stdin or ~/.docker/config.json
    // The credentials came from --username/--password-stdin (refused for catalog names),
    // not from ~/.docker/config.json (unused for catalog names).
    bool credentials_from_flags = false;
    bool force = false;  // replace an existing image of that name
    template <class V>
    void fields(V& v) {
      v("reference", reference);
      v("name", name);
      v("kernel", kernel);
      v("platform", platform);
      v("size", size);
      v("username", username);
      v("password", password);
      v("credentials_from_flags", credentials_from_flags);
      v("force", force);
    }
  };
  struct Response {
    ImageInfo image;
    std::string reference;    // canonical reference pulled
    std::string digest;       // the linux/amd64 manifest digest
    bool up_to_date = false;  // already pulled from this digest: nothing was done
    template <class V>
    void fields(V& v) {
      v("image", image);
      v("reference", reference);
      v("digest", digest);
      v("up_to_date", up_to_date);
    }
  };
};

// One blob of the pull cache (image.cache_list, image.cache_prune).
struct CachedBlob {
  std::string digest;
  std::int64_t size_bytes = 0;
  std::string downloaded_at;        // RFC 3339 UTC
  std::vector<std::string> images;  // the images whose manifest lists it; empty: unused
  template <class V>
  void fields(V& v) {
    v("digest", digest);
    v("size_bytes", size_bytes);
    v("downloaded_at", downloaded_at);
    v("images", images);
  }
};

// The pull cache's blobs with the images that use them.
struct ImageCacheList {
  static constexpr std::string_view kMethod = "image.cache_list";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<CachedBlob> blobs;
    std::int64_t total_bytes = 0;
    template <class V>
    void fields(V& v) {
      v("blobs", blobs);
      v("total_bytes", total_bytes);
    }
  };
};

// Removes the cached blobs no image uses (dry_run: only lists them).
struct ImageCachePrune {
  static constexpr std::string_view kMethod = "image.cache_prune";
  struct Request {
    bool dry_run = false;
    template <class V>
    void fields(V& v) {
      v("dry_run", dry_run);
    }
  };
  struct Response {
    std::vector<CachedBlob> removed;  // (with dry_run: would be removed)
    std::int64_t freed_bytes = 0;
    bool dry_run = false;
    template <class V>
    void fields(V& v) {
      v("removed", removed);
      v("freed_bytes", freed_bytes);
      v("dry_run", dry_run);
    }
  };
};

// Records an existing rootfs file as an unmanaged image.
struct ImageRegister {
  static constexpr std::string_view kMethod = "image.register";
  struct Request {
    std::string name;
    std::string rootfs;        // absolute path of an ext4 image
    std::string kernel;        // absolute path of a vmlinux ("" when kernel_ref is given)
    std::string initrd;        // optional initrd for kernel
    std::string kernel_ref;    // an existing kernel's name ("" when kernel is given)
    std::string distro;        // "" = "unknown"
    std::string init_flavour;  // "" = "systemd"
    std::string extra_kernel_args;
    template <class V>
    void fields(V& v) {
      v("name", name);
      v("rootfs", rootfs);
      v("kernel", kernel);
      v("initrd", initrd);
      v("kernel_ref", kernel_ref);
      v("distro", distro);
      v("init_flavour", init_flavour);
      v("extra_kernel_args", extra_kernel_args);
    }
  };
  struct Response {
    ImageInfo image;
    template <class V>
    void fields(V& v) {
      v("image", image);
    }
  };
};

// Copies an unmanaged image's rootfs into banger's state dir and marks it managed.
struct ImagePromote {
  static constexpr std::string_view kMethod = "image.promote";
  struct Request {
    std::string name;
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    ImageInfo image;
    template <class V>
    void fields(V& v) {
      v("image", image);
    }
  };
};

// Every image, ordered by name.
struct ImageList {
  static constexpr std::string_view kMethod = "image.list";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<ImageInfo> images;
    template <class V>
    void fields(V& v) {
      v("images", images);
    }
  };
};

// One image by name.
struct ImageShow {
  static constexpr std::string_view kMethod = "image.show";
  struct Request {
    std::string name;
    template <class V>
    void fields(V& v) {
      v("name", name);
    }
  };
  struct Response {
    ImageInfo image;
    template <class V>
    void fields(V& v) {
      v("image", image);
    }
  };
};

// Deletes an image (refused while a VM uses it); managed images lose their files too.
struct ImageDelete {
  static constexpr std::string_view kMethod = "image.delete";
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

// A catalog entry as `image bundle` writes it and `list --available` shows it (S11).
struct BundleEntryInfo {
  std::string name;
  std::string description;
  std::string distro;
  std::string arch;
  std::string kernel;  // images only
  std::string url;
  std::string sha256;
  std::uint64_t size = 0;
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("description", description);
    v("distro", distro);
    v("arch", arch);
    v("kernel", kernel);
    v("url", url);
    v("sha256", sha256);
    v("size", size);
  }
};

// image.bundle and kernel.bundle: what to write and where.
struct BundleRequest {
  std::string name;
  std::string output_dir;  // absolute
  std::string catalog;     // absolute catalog file, or ""
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("output_dir", output_dir);
    v("catalog", catalog);
  }
};

struct BundleResponse {
  std::string path;       // the bundle written
  BundleEntryInfo entry;  // its catalog entry
  std::string catalog;    // the catalog file updated, or ""
  template <class V>
  void fields(V& v) {
    v("path", path);
    v("entry", entry);
    v("catalog", catalog);
  }
};

// Writes an image as a bundle (<name>-<arch>-<sha256 prefix>.tar.zst) into output_dir and,
// with catalog, adds its entry to that catalog file. Streams events.
struct ImageBundle {
  static constexpr std::string_view kMethod = "image.bundle";
  using Request = BundleRequest;
  using Response = BundleResponse;
};

// Installs a local image bundle. Streams events.
struct ImageImport {
  static constexpr std::string_view kMethod = "image.import";
  struct Request {
    std::string path;    // absolute .tar.zst
    std::string name;    // "" = the bundle's
    std::string kernel;  // "" = the bundle's
    bool force = false;
    template <class V>
    void fields(V& v) {
      v("path", path);
      v("name", name);
      v("kernel", kernel);
      v("force", force);
    }
  };
  struct Response {
    ImageInfo image;
    template <class V>
    void fields(V& v) {
      v("image", image);
    }
  };
};

// One entry of `image list --available`.
struct ImageCatalogEntry {
  std::string name;
  std::string kind;  // "recipe" or "bundle"
  std::string description;
  std::string distro;
  std::string kernel;
  std::uint64_t size = 0;  // bundles: bytes to download
  std::string url;         // bundles only
  bool pulled = false;
  template <class V>
  void fields(V& v) {
    v("name", name);
    v("kind", kind);
    v("description", description);
    v("distro", distro);
    v("kernel", kernel);
    v("size", size);
    v("url", url);
    v("pulled", pulled);
  }
};

// The embedded recipes and the bundles of the catalog at catalog_url.
struct ImageCatalog {
  static constexpr std::string_view kMethod = "image.catalog";
  struct Request {
    template <class V>
    void fields(V& /*v*/) {}
  };
  struct Response {
    std::vector<ImageCatalogEntry> entries;
    template <class V>
    void fields(V& v) {
      v("entries", entries);
    }
  };
};

}  // namespace banger::api
