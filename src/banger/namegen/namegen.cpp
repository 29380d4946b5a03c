#include "banger/namegen/namegen.hpp"

#include <fmt/format.h>

#include <array>

namespace banger::namegen {
namespace {

constexpr std::array<std::string_view, 100> kAdjectives = {
    "able",   "agile",  "amber",  "ample",  "azure",  "bold",   "brave",  "breezy", "bright",
    "brisk",  "bubbly", "calm",   "candid", "cheery", "chief",  "clean",  "clear",  "clever",
    "cosy",   "crisp",  "curly",  "daring", "dapper", "dewy",   "eager",  "early",  "easy",
    "fancy",  "fair",   "fast",   "fine",   "firm",   "fluffy", "fresh",  "frank",  "fuzzy",
    "gentle", "giddy",  "glad",   "golden", "good",   "grand",  "great",  "green",  "happy",
    "hardy",  "hearty", "honest", "humble", "jolly",  "jovial", "keen",   "kind",   "lively",
    "lucky",  "lunar",  "mellow", "merry",  "mighty", "misty",  "modest", "neat",   "nimble",
    "noble",  "peppy",  "perky",  "plucky", "polite", "proud",  "quick",  "quiet",  "rapid",
    "ready",  "rosy",   "royal",  "rustic", "shiny",  "silky",  "smart",  "smooth", "snappy",
    "snug",   "solar",  "sound",  "spry",   "steady", "sunny",  "super",  "sweet",  "swift",
    "tidy",   "tough",  "trusty", "upbeat", "vivid",  "warm",   "wise",   "witty",  "young",
    "zesty",
};

constexpr std::array<std::string_view, 100> kNouns = {
    "badger", "beaver", "bee",    "bison",  "breeze", "brook",   "canyon", "cedar",  "cloud",
    "comet",  "coral",  "crane",  "creek",  "daisy",  "deer",    "delta",  "dingo",  "dolphin",
    "dove",   "dune",   "eagle",  "ember",  "falcon", "fern",    "finch",  "fjord",  "fox",
    "frog",   "gecko",  "glade",  "goose",  "grove",  "gull",    "harbor", "hare",   "hawk",
    "heron",  "hill",   "ibis",   "island", "jay",    "koala",   "lake",   "lark",   "lemur",
    "lily",   "lion",   "llama",  "lotus",  "lynx",   "maple",   "marten", "meadow", "mole",
    "moose",  "moth",   "newt",   "oak",    "ocean",  "orca",    "otter",  "owl",    "panda",
    "pebble", "pine",   "plover", "pond",   "puffin", "quail",   "rabbit", "raven",  "reef",
    "ridge",  "river",  "robin",  "seal",   "shrew",  "sparrow", "spruce", "squid",  "star",
    "stoat",  "stork",  "swan",   "thrush", "tiger",  "toad",    "trout",  "tulip",  "turtle",
    "valley", "vole",   "walrus", "willow", "wolf",   "wren",    "yak",    "zebra",  "aspen",
    "acorn",
};

constexpr int kMaxSuffix = 9999;

}  // namespace

std::span<const std::string_view> adjectives() { return kAdjectives; }
std::span<const std::string_view> nouns() { return kNouns; }

std::string generate_name(base::Random& random) {
  std::string_view adjective = kAdjectives[random.below(kAdjectives.size())];
  std::string_view noun = kNouns[random.below(kNouns.size())];
  return fmt::format("{}-{}", adjective, noun);
}

Expected<std::string> generate_unique_name(base::Random& random,
                                           const std::function<bool(const std::string&)>& taken,
                                           int attempts) {
  for (int i = 0; i < attempts; ++i) {
    std::string name = generate_name(random);
    if (!taken(name)) {
      return name;
    }
  }
  // Nearly every pair is in use: number one of them instead of drawing forever.
  std::string base = generate_name(random);
  for (int n = 2; n <= kMaxSuffix; ++n) {
    std::string name = fmt::format("{}-{}", base, n);
    if (!taken(name)) {
      return name;
    }
  }
  return fail(Errc::failed_precondition,
              fmt::format("could not generate a free vm name: {} random names and \"{}-2\" to "
                          "\"{}-{}\" are all taken; choose a name",
                          attempts < 0 ? 0 : attempts, base, base, kMaxSuffix));
}

}  // namespace banger::namegen
