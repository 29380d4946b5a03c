#include "banger/namegen/namegen.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace banger::namegen {
namespace {

bool is_lower_word(std::string_view word) {
  if (word.empty()) {
    return false;
  }
  for (char c : word) {
    if (c < 'a' || c > 'z') {
      return false;
    }
  }
  return true;
}

TEST(Namegen, WordListsAreLowercaseShortAndDistinct) {
  EXPECT_GE(adjectives().size(), 100u);
  EXPECT_GE(nouns().size(), 100u);
  for (auto list : {adjectives(), nouns()}) {
    std::set<std::string_view> seen;
    for (std::string_view word : list) {
      EXPECT_TRUE(is_lower_word(word)) << word;
      EXPECT_LE(word.size(), 8u) << word;
      EXPECT_TRUE(seen.insert(word).second) << "duplicate " << word;
    }
  }
}

TEST(Namegen, SeededGeneratorGivesTheSameAdjectiveNounNames) {
  base::Mt19937Random a(7);
  base::Mt19937Random b(7);
  for (int i = 0; i < 20; ++i) {
    std::string name = generate_name(a);
    EXPECT_EQ(name, generate_name(b));
    auto dash = name.find('-');
    ASSERT_NE(dash, std::string::npos) << name;
    EXPECT_TRUE(is_lower_word(name.substr(0, dash))) << name;
    EXPECT_TRUE(is_lower_word(name.substr(dash + 1))) << name;
  }
}

TEST(Namegen, ReturnsTheFirstFreeName) {
  base::Mt19937Random reference(3);
  std::string first = generate_name(reference);
  std::string second = generate_name(reference);
  ASSERT_NE(first, second);

  base::Mt19937Random random(3);
  auto name = generate_unique_name(random, [&](const std::string& n) { return n == first; });
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, second);
}

TEST(Namegen, FallsBackToANumberedNameWhenRandomNamesCollide) {
  // Given every plain adjective-noun name is taken, then the result carries a -<n> suffix.
  base::Mt19937Random random(11);
  auto name = generate_unique_name(
      random,
      [](const std::string& n) { return n.find_first_of("0123456789") == std::string::npos; }, 8);
  ASSERT_TRUE(name);
  EXPECT_EQ(name->substr(name->size() - 2), "-2");
}

TEST(Namegen, SkipsTakenNumberedNames) {
  base::Mt19937Random random(11);
  auto name = generate_unique_name(
      random,
      [](const std::string& n) {
        return n.find_first_of("0123456789") == std::string::npos || n.ends_with("-2") ||
               n.ends_with("-3");
      },
      4);
  ASSERT_TRUE(name);
  EXPECT_TRUE(name->ends_with("-4")) << *name;
}

TEST(Namegen, FailsOnlyWhenEveryCandidateIsTaken) {
  base::Mt19937Random reference(5);
  for (int i = 0; i < 2; ++i) {
    generate_name(reference);
  }
  std::string base = generate_name(reference);

  base::Mt19937Random random(5);
  auto name = generate_unique_name(random, [](const std::string&) { return true; }, 2);
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().code, Errc::failed_precondition);
  EXPECT_EQ(name.error().message, "could not generate a free vm name: 2 random names and \"" +
                                      base + "-2\" to \"" + base +
                                      "-9999\" are all taken; choose a name");
}

TEST(Namegen, GeneratedNamesAreMostlyDistinct) {
  base::Mt19937Random random(1);
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) {
    names.insert(generate_name(random));
  }
  EXPECT_GT(names.size(), 90u);
}

}  // namespace
}  // namespace banger::namegen
