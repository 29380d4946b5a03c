// The test image cache: the debian-bookworm image takes minutes to build (mmdebstrap), so the
// artifact suites may keep a built one between runs. Opt-in: BANGER_TEST_IMAGE_CACHE names a
// directory; without it every run builds (and a cache-less run passes the same way).
//
// The entry's key is a sha256 over everything that decides the image's content: the sources of
// the imagecat module (the recipe's package list and every file banger writes into the tree),
// the banger-agent binary that is injected, and the host archive's candidate versions of the
// recipe's key packages (`apt-cache policy`); an entry is only used when all match. Only the
// latest entry is kept.
#pragma once

#include <string>

#include "../integration/harness.hpp"

namespace banger::itest {

struct ObtainedImage {
  bool from_cache = false;
  std::string error;  // "" on success
};

// Makes the managed image `name` (recipe debian-bookworm) exist in home: copied from the cache
// when it holds an entry for the current key (the daemon's reconcile adopts the published
// directory), else built with `banger image build` and then stored in the cache (when one is
// configured). The daemon of home is stopped on return.
ObtainedImage obtain_debian_image(BangerHome& home, const std::string& name);

// The cache key for the current sources, agent and archive ("" when an input is unreadable).
std::string debian_image_cache_key();

}  // namespace banger::itest
