#include "banger/agentproto/auth.hpp"

#include <gtest/gtest.h>

#include <string>

#include "banger/agentproto/constants.hpp"

namespace banger::agentproto {
namespace {

const std::string kToken(kAgentTokenHexChars, 'a');

TEST(AgentToken, ValidIsSixtyFourLowercaseHex) {
  EXPECT_TRUE(valid_token(kToken));
  EXPECT_TRUE(valid_token(std::string(32, '0') + std::string(32, 'f')));
  EXPECT_FALSE(valid_token(""));
  EXPECT_FALSE(valid_token(kToken.substr(1)));
  EXPECT_FALSE(valid_token(kToken + "a"));
  EXPECT_FALSE(valid_token(std::string(kAgentTokenHexChars, 'A')));
  EXPECT_FALSE(valid_token(std::string(kAgentTokenHexChars, 'g')));
}

TEST(AgentToken, FileTextTakesOneTrailingNewline) {
  EXPECT_EQ(token_from_file_text(kToken + "\n"), kToken);
  EXPECT_EQ(token_from_file_text(kToken), kToken);
  EXPECT_EQ(token_from_file_text(kToken + "\n\n"), std::nullopt);
  EXPECT_EQ(token_from_file_text(""), std::nullopt);
  EXPECT_EQ(token_from_file_text(" " + kToken), std::nullopt);
}

TEST(AgentToken, EqualOnlyForTheSameFullToken) {
  std::string other = kToken;
  other.back() = 'b';
  EXPECT_TRUE(tokens_equal(kToken, kToken));
  EXPECT_FALSE(tokens_equal(other, kToken));
  EXPECT_FALSE(tokens_equal(kToken.substr(0, 10), kToken));  // a prefix is not the token
  EXPECT_FALSE(tokens_equal(kToken + "a", kToken));
  EXPECT_FALSE(tokens_equal("", ""));  // no expected token: nothing matches
}

}  // namespace
}  // namespace banger::agentproto
