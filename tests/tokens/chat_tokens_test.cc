// Chat-format counting (OpenAI's per-message overhead), trimming plans and the model table.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "chat_tokens.h"
#include "model_limits.h"

using namespace outrigger::tokens;

namespace {

using Turns = std::vector<std::pair<std::string, std::string>>;

outrigger_str s(const std::string& v) { return {v.data(), v.size()}; }

// A request view over (role, content) pairs; the strings live as long as the object.
struct Conversation {
  std::vector<std::pair<std::string, std::string>> text;
  std::vector<outrigger_message_view> messages;
  outrigger_params_view params{};
  outrigger_request_view view{};

  explicit Conversation(std::vector<std::pair<std::string, std::string>> t) : text(std::move(t)) {
    for (const auto& [role, content] : text) messages.push_back({s(role), s(content), {}, {}, nullptr, 0});
    view.messages = messages.data();
    view.message_count = messages.size();
    view.params = &params;
  }
};

const BpeEncoding& o200k() { return *BpeEncoding::byName("o200k_base"); }

}  // namespace

TEST_CASE("a chat prompt counts 3 per message, role and content, and 3 for the reply (tiktoken: 24)") {
  Conversation c(Turns{{"system", "You are a helpful assistant."}, {"user", "What is the capital of France?"}});
  PromptCount n = countPrompt(o200k(), c.view);
  CHECK(n.total == 24);
  REQUIRE(n.per_message.size() == 2);
  CHECK(n.per_message[0] + n.per_message[1] + kReplyPriming == 24);
}

TEST_CASE("the byte bound is never below the exact count") {
  Conversation c(Turns{{"system", "You are a helpful assistant."}, {"user", "héllo 👋🏽 wörld, ünïcödé"},
                       {"assistant", std::string(300, ' ')}, {"user", "x"}});
  uint64_t bound = promptTokensUpperBound(c.view);
  CHECK(bound >= countPrompt(o200k(), c.view).total);
  CHECK(bound >= countPrompt(*BpeEncoding::byName("cl100k_base"), c.view).total);
}

TEST_CASE("a name costs one token more than its text") {
  Conversation c(Turns{{"user", "hi"}});
  uint64_t plain = messageTokens(o200k(), c.messages[0]);
  std::string name = "alice";
  c.messages[0].name = s(name);
  CHECK(messageTokens(o200k(), c.messages[0]) == plain + kTokensPerName + o200k().count(name));
}

TEST_CASE("trimming drops the oldest non-system messages first and keeps system and last") {
  Conversation c(Turns{{"system", "rules"}, {"user", std::string(400, 'x') + " one"}, {"assistant", "two two"},
                  {"user", "three"}, {"assistant", "four"}, {"user", "last question"}});
  PromptCount n = countPrompt(o200k(), c.view);
  TrimPlan plan;
  REQUIRE(planTrim(c.view, n, n.total - 1, &plan));
  CHECK(plan.keep == std::vector<size_t>{0, 2, 3, 4, 5});
  CHECK(plan.dropped == 1);
  CHECK(plan.total <= n.total - 1);
  // A budget only system + last fit in.
  uint64_t minimum = n.per_message[0] + n.per_message[5] + kReplyPriming;
  REQUIRE(planTrim(c.view, n, minimum, &plan));
  CHECK(plan.keep == std::vector<size_t>{0, 5});
  CHECK_FALSE(planTrim(c.view, n, minimum - 1, &plan));
}

TEST_CASE("trimming never leaves a tool result first") {
  Conversation c(Turns{{"system", "s"}, {"user", "old question"}, {"assistant", "calling"}, {"tool", "result data"},
                  {"assistant", "answer"}, {"user", "next"}});
  PromptCount n = countPrompt(o200k(), c.view);
  TrimPlan plan;
  // Dropping the user and the assistant call must take the tool result with it.
  uint64_t budget = n.total - n.per_message[1] - n.per_message[2];
  REQUIRE(planTrim(c.view, n, budget, &plan));
  CHECK(plan.keep == std::vector<size_t>{0, 4, 5});
}

TEST_CASE("trimming cannot drop the call whose result is the last message: that is a deny, not an orphan") {
  Conversation c(Turns{{"system", "s"}, {"user", std::string(200, 'q')}, {"assistant", std::string(200, 'a')},
                  {"tool", "result data"}});
  PromptCount n = countPrompt(o200k(), c.view);
  TrimPlan plan;
  // Dropping the user message is enough: the call and its result stay together.
  REQUIRE(planTrim(c.view, n, n.total - n.per_message[1], &plan));
  CHECK(plan.keep == std::vector<size_t>{0, 2, 3});
  // Less room would drop the call and leave [system, tool]: refused.
  CHECK_FALSE(planTrim(c.view, n, n.total - n.per_message[1] - 1, &plan));
  // The legacy `function` role is a tool result too.
  Conversation legacy(Turns{{"system", "s"}, {"user", "q"}, {"assistant", std::string(200, 'a')}, {"function", "r"}});
  PromptCount m = countPrompt(o200k(), legacy.view);
  CHECK_FALSE(planTrim(legacy.view, m, m.total - m.per_message[1] - 1, &plan));
}

TEST_CASE("trimming 200,000 messages down to the last few keeps the system message and the newest") {
  // Each drop searched for the oldest kept message from the start: 2 x 10^10 steps here.
  Turns turns{{"system", "rules"}};
  for (int i = 0; i < 200000; ++i) turns.push_back({i % 2 ? "assistant" : "user", "hi"});
  Conversation c(turns);
  PromptCount n = countPrompt(o200k(), c.view);
  TrimPlan plan;
  uint64_t budget = n.per_message[0] + 4 * n.per_message[1] + kReplyPriming;
  REQUIRE(planTrim(c.view, n, budget, &plan));  // the old plan ran past the test's timeout here
  CHECK(plan.keep.front() == 0);
  CHECK(plan.keep.back() == 200000);
  CHECK(plan.dropped == 200000 - (plan.keep.size() - 1));
  CHECK(plan.total <= budget);
}

TEST_CASE("the model table: rules first, then the compiled-in price table, then the family") {
  ModelTable t({{"my-*", {"cl100k_base", 1000, 0, 100, "models[0]"}}, {"gpt-4o", {"", 500, 0, 0, "models[1]"}}}, true);
  CHECK(t.priceEntries() > 10);
  auto mine = t.find("my-model");
  REQUIRE(mine);
  CHECK(mine->encoding == "cl100k_base");
  CHECK(mine->context_window == 1000);
  auto overridden = t.find("gpt-4o");
  REQUIRE(overridden);
  CHECK(overridden->context_window == 500);
  CHECK(overridden->encoding == "o200k_base");
  auto dated = t.find("gpt-4o-mini-2024-07-18");
  REQUIRE(dated);
  CHECK(dated->context_window == 128000);
  CHECK(dated->max_output == 16384);
  CHECK(dated->encoding == "o200k_base");
  // gpt-5's answer does not share the prompt's 272k: the window is 400k, the prompt at most 272k.
  auto five = t.find("gpt-5-mini");
  REQUIRE(five);
  CHECK(five->context_window == 400000);
  CHECK(five->max_input == 272000);
  CHECK(five->max_output == 128000);
  auto family = t.find("gpt-3.5-turbo-instruct-unknown");
  REQUIRE(family);
  CHECK(family->encoding == "cl100k_base");
  CHECK_FALSE(t.find("llama-3-70b"));
  CHECK(encodingForModel("openai/gpt-4.1-mini") == "o200k_base");
  CHECK(encodingForModel("gpt-4-turbo") == "cl100k_base");
}
