// The price table (sidecar/cost): LiteLLM import, Outrigger's TOML, [prices] in the config,
// model-id lookup, the cost formula's edges, and the usage meter's cap.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

#include "config/config.h"
#include "cost/price_sources.h"
#include "cost/price_table.h"
#include "cost/usage_meter.h"
#include "telemetry/tenant_labels.h"

using namespace outrigger;

namespace {

const std::string kLiteLlm = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/fixtures/prices/litellm_sample.json";

std::map<std::string, cost::ModelPrice> byKey(const std::vector<cost::ModelPrice>& entries) {
  std::map<std::string, cost::ModelPrice> out;
  for (const auto& e : entries) out[e.key()] = e;
  return out;
}

const char* kRoute = "[instances.mock]\ntype = \"provider.mock\"\n[routes.default]\nprovider = \"mock\"\n";

}  // namespace

TEST_CASE("LiteLLM import: token-priced chat and embedding entries, keyed by provider, every price field read") {
  size_t skipped = 0;
  std::ifstream in(kLiteLlm);
  std::stringstream text;
  text << in.rdbuf();
  auto entries = cost::parseLiteLlmJson(text.str(), "sample.json", &skipped);
  REQUIRE(entries.ok());
  auto m = byKey(entries.value());
  CHECK(m.size() == 5);
  CHECK(skipped == 3);  // sample_spec, an image model, an audio model priced per second
  const auto& gpt = m.at("openai/gpt-4o");
  CHECK(gpt.input == 2.5e-06);
  CHECK(gpt.output == 1e-05);
  CHECK(gpt.cache_read == 1.25e-06);
  CHECK_FALSE(gpt.cache_write);
  CHECK(gpt.context_window == 128000);
  CHECK(gpt.max_output == 16384);
  const auto& sonnet = m.at("anthropic/claude-sonnet-4-5-20250929");
  CHECK(sonnet.cache_write == 3.75e-06);  // the 5-minute write; the 1-hour and >200k tiers are not modelled
  CHECK(sonnet.cache_read == 3e-07);
  CHECK(m.at("gemini/gemini-2.5-flash").reasoning == 2.5e-06);  // the provider prefix left the model id
  CHECK(m.at("openai/text-embedding-3-small").output == 0);
  CHECK(m.count("openrouter/anthropic/claude-3.5-sonnet") == 1);  // no mode: a chat model in older copies

  SECTION("written as Outrigger's TOML, it reads back to the same doubles") {
    std::vector<const cost::ModelPrice*> list;
    for (const auto& e : entries.value()) list.push_back(&e);
    auto back = cost::parsePriceToml(cost::writePriceToml(list, "sample 2026-01-01"), "written.toml");
    REQUIRE(back.ok());
    CHECK(back->snapshot == "sample 2026-01-01");
    CHECK(back->size() == 5);
    const cost::ModelPrice* again = back->get("anthropic/claude-sonnet-4-5-20250929");
    REQUIRE(again);
    CHECK(again->input == sonnet.input);
    CHECK(again->cache_write == sonnet.cache_write);
    CHECK(again->max_output == 64000);
  }
  SECTION("a file that is not a price map is refused with its name") {
    auto bad = cost::parseLiteLlmJson("[1, 2", "broken.json");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find("broken.json") == 0);
  }
}

// A negative cache or reasoning price made the cost of a request negative (a counter going
// down, a budget refunded), and a token limit of 1e30 was cast out of range: the entry is
// skipped, the limit left unknown.
TEST_CASE("LiteLLM import: an entry with a negative price is skipped, an absurd token limit left unknown") {
  size_t skipped = 0;
  auto entries = cost::parseLiteLlmJson(R"({
    "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-6,
               "output_cost_per_token": 1e-5, "cache_read_input_token_cost": -0.001},
    "o3": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2e-6,
           "output_cost_per_token": 8e-6, "output_cost_per_reasoning_token": -1e-6},
    "gpt-4.1": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2e-6,
                "output_cost_per_token": 8e-6, "max_input_tokens": 1e30, "max_output_tokens": 32768}
  })", "odd.json", &skipped);
  REQUIRE(entries.ok());
  CHECK(skipped == 2);
  REQUIRE(entries->size() == 1);
  CHECK(entries->at(0).model == "gpt-4.1");
  CHECK(entries->at(0).context_window == 0);
  CHECK(entries->at(0).max_output == 32768);
}

TEST_CASE("price TOML: max_input is read and written back") {
  auto t = cost::parsePriceToml("[models.\"openai/wide\"]\ninput = 1e-6\noutput = 2e-6\ncontext_window = 400000\n"
                                "max_input = 272000\nmax_output = 128000\n", "wide.toml");
  REQUIRE(t.ok());
  const cost::ModelPrice* wide = t->get("openai/wide");
  REQUIRE(wide);
  CHECK(wide->max_input == 272000);
  auto back = cost::parsePriceToml(cost::writePriceToml({wide}, "x"), "back.toml");
  REQUIRE(back.ok());
  CHECK(back->get("openai/wide")->max_input == 272000);
  CHECK(back->get("openai/wide")->context_window == 400000);
}

TEST_CASE("the embedded table parses and prices the common models") {
  auto t = cost::embeddedPrices();
  REQUIRE(t.ok());
  CHECK(t.value()->snapshot.find("LiteLLM") != std::string::npos);
  for (const char* key : {"openai/gpt-4o", "openai/gpt-4o-mini", "openai/gpt-4.1", "openai/o3", "openai/gpt-5",
                          "anthropic/claude-sonnet-4-5", "anthropic/claude-3-5-haiku", "anthropic/claude-opus-4-1"}) {
    INFO(key);
    CHECK(t.value()->get(key) != nullptr);
  }
}

TEST_CASE("lookup: dated ids fall back to the undated entry, an exact dated entry wins, no guess across providers") {
  const cost::PriceTable& t = *cost::embeddedPrices().value();
  CHECK(cost::undated("gpt-4o-2024-08-06") == "gpt-4o");
  CHECK(cost::undated("claude-3-5-sonnet-20241022") == "claude-3-5-sonnet");
  CHECK(cost::undated("gpt-4-0613") == "gpt-4");
  CHECK(cost::undated("mistral-large-latest") == "mistral-large");
  CHECK(cost::undated("gpt-4o") == "gpt-4o");
  CHECK(cost::undated("o3") == "o3");
  CHECK(t.find({"openai", "openai"}, "gpt-4o-2024-11-20")->key() == "openai/gpt-4o");
  CHECK(t.find({"openai", "openai"}, "gpt-4o-2024-05-13")->input == 5e-06);  // its own, older price
  CHECK(t.find({"claude", "anthropic"}, "claude-sonnet-4-0")->key() == "anthropic/claude-sonnet-4");  // an alias
  CHECK(t.find({"deepseek", "openai"}, "deepseek-chat")->key() == "deepseek/deepseek-chat");
  CHECK(t.find({"gateway", "openai"}, "deepseek/deepseek-chat")->key() == "deepseek/deepseek-chat");
  CHECK(t.find({"openai", "openai"}, "deepseek-chat") == nullptr);  // another vendor's model name
  CHECK(t.find({"openai", "openai"}, "claude-sonnet-4-5") == nullptr);
  CHECK(t.find({"mock", "mock"}, "anything")->key() == "mock/*");
  // The local embedding providers cost nothing; unpriced, a USD budget on their route refused them.
  CHECK(t.find({"local_embed", "wordllama"}, "l2_supercat")->key() == "wordllama/*");
  CHECK(t.find({"minilm", "onnx"}, "all-MiniLM-L6-v2")->key() == "onnx/*");
  CHECK(t.find({"minilm", "onnx"}, "all-MiniLM-L6-v2")->input == 0);
}

TEST_CASE("limits: a target's entry first, then any provider's by name, undated or prefix, the latest source winning") {
  cost::PriceTable t;  // as the embedded table has them
  auto entry = [](std::string provider, std::string model, uint64_t window) {
    cost::ModelPrice p{std::move(provider), std::move(model)};
    p.context_window = window;
    return p;
  };
  t.add(entry("openai", "gpt-4o", 128000));
  t.add(entry("openai", "gpt-4o-mini", 128000));
  t.add(entry("mock", "*", 0));
  const uint64_t gpt4o_window = 128000;
  CHECK(t.limitsOf({"openai", "openai"}, "gpt-4o-2024-08-06")->key() == "openai/gpt-4o");
  CHECK(t.limitsOf({"mock", "mock"}, "gpt-4o")->key() == "openai/gpt-4o");  // mock/* has no limits
  CHECK(t.limitsOf({}, "openai/gpt-4o")->context_window == gpt4o_window);
  CHECK(t.limitsOf({}, "gpt-4o-mini-2024-07-18")->key() == "openai/gpt-4o-mini");
  CHECK(t.limitsOf({}, "gpt-4o-mini-custom")->key() == "openai/gpt-4o-mini");  // the longest prefix
  CHECK(t.limitsOf({}, "no-such-model") == nullptr);
  CHECK(t.limitsOf({}, "") == nullptr);

  cost::ModelPrice own{"acme", "acme-llm"};
  own.context_window = 8192;
  own.aliases = {"acme"};
  t.add(own);
  CHECK(t.limitsOf({"mock", "mock"}, "acme-llm")->context_window == 8192);
  CHECK(t.limitsOf({}, "acme-llm-20250101")->context_window == 8192);  // undated
  CHECK(t.limitsOf({}, "acme")->context_window == 8192);               // an alias
  CHECK(t.limitsOf({}, "acme-llm-v2")->context_window == 8192);        // a prefix

  cost::ModelPrice override{"openai", "gpt-4o"};
  override.context_window = 1000;
  t.add(override);
  CHECK(t.limitsOf({"mock", "mock"}, "gpt-4o")->context_window == 1000);
  cost::ModelPrice proxy{"proxy", "gpt-4o"};
  proxy.context_window = 2000;
  t.add(proxy);
  CHECK(t.limitsOf({}, "gpt-4o")->context_window == 2000);                  // added later
  CHECK(t.limitsOf({"openai", "openai"}, "gpt-4o")->context_window == 1000);  // the target's own

  cost::ModelPrice priced_only{"acme", "acme-small"};
  priced_only.input = 1e-6;
  t.add(priced_only);
  CHECK(t.limitsOf({"acme"}, "acme-small") == nullptr);  // prices alone are no limits
}

TEST_CASE("cost: inconsistent counts are clamped, unset cache and reasoning prices fall back") {
  cost::ModelPrice p;
  p.input = 1e-6;
  p.output = 4e-6;
  // No cache or reasoning prices: cached input at the input price, reasoning at the output price.
  CHECK(cost::costOf(p, {100, 10, 60, 5, 0}) == Approx(100 * 1e-6 + 10 * 4e-6).epsilon(0).margin(1e-12));
  p.cache_read = 1e-7;
  p.cache_write = 2e-6;
  p.reasoning = 8e-6;
  CHECK(cost::costOf(p, {100, 10, 60, 5, 30}) ==
        Approx(10 * 1e-6 + 60 * 1e-7 + 30 * 2e-6 + 5 * 4e-6 + 5 * 8e-6).epsilon(0).margin(1e-12));
  // More cached than prompt tokens, more reasoning than completion: never negative, never more
  // tokens than were reported.
  CHECK(cost::costOf(p, {10, 2, 50, 9, 50}) == Approx(10 * 1e-7 + 2 * 8e-6).epsilon(0).margin(1e-12));
}

TEST_CASE("config [prices]: a file relative to the config, entries that override, errors with file:line") {
  auto s = config::parseConfig(std::string(kRoute) +
                                   "[prices]\nfile = \"prices/litellm.json\"\n"
                                   "[prices.\"openai/ft:gpt-4o-mini:acme\"]\ninput = 3e-7\noutput = 1.2e-6\n"
                                   "cache_read = 1.5e-7\ncontext_window = 128000\n",
                               "test.toml", "/etc/outrigger");
  REQUIRE(s.ok());
  CHECK(s->prices.file == "/etc/outrigger/prices/litellm.json");
  REQUIRE(s->prices.entries.size() == 1);
  CHECK(s->prices.entries[0].key() == "openai/ft:gpt-4o-mini:acme");
  CHECK(s->prices.entries[0].cache_read == 1.5e-7);

  auto error = [](const std::string& prices) {
    auto r = config::parseConfig(std::string(kRoute) + prices, "test.toml", "/etc/outrigger");
    REQUIRE_FALSE(r.ok());
    return r.status().message();
  };
  CHECK(error("[prices.\"openai/x\"]\ninput = 1e-6\nouput = 2e-6\n").find("test.toml:7: unknown key 'ouput'") == 0);
  CHECK(error("[prices.\"openai/x\"]\ninput = 1e-6\n").find("needs 'input' and 'output'") != std::string::npos);
  CHECK(error("[prices.\"openai/x\"]\ninput = -1\noutput = 1\n").find("test.toml:6: 'input' must be a non-negative") == 0);
  CHECK(error("[prices.gpt-4o]\ninput = 1\noutput = 1\n").find("\"provider/model\"") != std::string::npos);
  CHECK(error("[prices]\nsnapshot = \"x\"\n").find("test.toml:6: unknown key 'snapshot' in [prices]") == 0);
}

TEST_CASE("config [prices]: an entry named like another entry's alias prices that name alone") {
  auto table = cost::buildPriceTable("", {{"anthropic", "claude-sonnet-4-0", 1e-6, 2e-6, {}, {}, {}, 0, 0, 0, {}, "test"}});
  REQUIRE(table.ok());
  const cost::ModelPrice* alias = table.value()->get("anthropic/claude-sonnet-4-0");
  REQUIRE(alias != nullptr);
  CHECK(alias->input == 1e-6);
  CHECK(alias->key() == "anthropic/claude-sonnet-4-0");
  const cost::ModelPrice* canonical = table.value()->get("anthropic/claude-sonnet-4");
  REQUIRE(canonical != nullptr);
  CHECK(canonical->key() == "anthropic/claude-sonnet-4");
  CHECK(canonical->input == 3e-6);
  CHECK(canonical->context_window == 200000);
  // Dated ids fall back to the canonical entry, as before the override.
  CHECK(table.value()->find({"anthropic"}, "claude-sonnet-4-20250514")->input == 3e-6);
  // Whatever comes after it: the canonical entry overridden later, naming the alias again.
  auto later = cost::buildPriceTable("", {{"anthropic", "claude-sonnet-4-0", 1e-6, 2e-6, {}, {}, {}, 0, 0, 0, {}, "test"},
                                          {"anthropic", "claude-sonnet-4", 4e-6, 8e-6, {}, {}, {}, 0, 0, 0, {"claude-sonnet-4-0"}, "test"}});
  REQUIRE(later.ok());
  CHECK(later.value()->get("anthropic/claude-sonnet-4-0")->input == 1e-6);
  CHECK(later.value()->get("anthropic/claude-sonnet-4")->input == 4e-6);
}

TEST_CASE("config [prices]: entries override the embedded table, a missing file fails the chain build") {
  auto table = cost::buildPriceTable("", {{"openai", "gpt-4o", 1e-6, 2e-6, {}, {}, {}, 0, 0, 0, {}, "test"}});
  REQUIRE(table.ok());
  CHECK(table.value()->get("openai/gpt-4o")->input == 1e-6);
  CHECK_FALSE(table.value()->get("openai/gpt-4o")->cache_read);  // replaced whole, not merged
  CHECK(table.value()->get("openai/gpt-4o-mini") != nullptr);
  auto from_file = cost::buildPriceTable(kLiteLlm, {});
  REQUIRE(from_file.ok());
  CHECK(from_file.value()->get("openrouter/anthropic/claude-3.5-sonnet") != nullptr);
  auto missing = cost::buildPriceTable("/nonexistent/prices.json", {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("/nonexistent/prices.json") != std::string::npos);
}

TEST_CASE("usage meter: label sets past the cap are counted under the model _other and as overflow") {
  cost::UsageSeriesCap cap(2);
  cost::UsageMeter meter(&cap);
  meter.add("r", "p", "a", "", {10, 5, 4, 1, 2}, 0.5, true);
  meter.add("r", "p", "b", "", {1, 1, 0, 0, 0}, 0, false);
  meter.add("r", "p", "c", "", {7, 0, 0, 0, 0}, 0.25, true);  // the third label set
  meter.add("r", "p", "a", "", {10, 5, 4, 1, 2}, 0.5, true);
  std::map<std::string, cost::UsageSeries> merged;
  uint64_t overflowed = 0;
  meter.mergeInto(&merged, &overflowed);
  CHECK(overflowed == 1);
  std::string text = cost::renderUsageMetrics(merged, overflowed);
  CHECK(text.find("outrigger_tokens_total{route=\"r\",provider=\"p\",model=\"a\",type=\"input\"} 20\n") != std::string::npos);
  CHECK(text.find("outrigger_tokens_total{route=\"r\",provider=\"p\",model=\"a\",type=\"cache_write\"} 4\n") != std::string::npos);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"a\"} 1\n") != std::string::npos);
  CHECK(text.find("outrigger_cost_unpriced_total{route=\"r\",provider=\"p\",model=\"b\"} 1\n") != std::string::npos);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"_other\"} 0.25\n") != std::string::npos);
  CHECK(text.find("model=\"c\"") == std::string::npos);
  CHECK(text.find("outrigger_usage_series_overflow_total 1\n") != std::string::npos);
}

// A model name may hold any byte: one with the old separator in it took another tenant's series,
// and two that differ only in bytes that are not UTF-8 rendered as one label set twice.
TEST_CASE("usage meter: a series is its label set as rendered, whatever bytes the model name holds") {
  cost::UsageMeter meter;
  meter.add("r", "p", "gpt-4o\x1f" "acme", "", {1, 0, 0, 0, 0}, 0.25, true);
  meter.add("r", "p", "gpt-4o", "acme", {1, 0, 0, 0, 0}, 0.5, true);
  meter.add("r", "p", "m\xff", "", {1, 0, 0, 0, 0}, 1, true);
  meter.add("r", "p", "m\xfe", "", {1, 0, 0, 0, 0}, 2, true);
  std::map<std::string, cost::UsageSeries> merged;
  uint64_t overflowed = 0;
  meter.mergeInto(&merged, &overflowed);
  CHECK(merged.size() == 3);
  std::string text = cost::renderUsageMetrics(merged, overflowed);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"gpt-4o\",tenant=\"acme\"} 0.5\n") !=
        std::string::npos);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"m\uFFFD\"} 3\n") != std::string::npos);
}

TEST_CASE("usage meter: workers sharing a cap keep every label set in the same series from one merge to the next") {
  // Two workers' meters. Worker 1 met K first; worker 0 then fills the cap and meets one more
  // label set. K must keep its own series: moving into "_other" and back would read as its whole
  // spend, then as a counter reset, to an alert rule over the merged series.
  cost::UsageSeriesCap cap(3);
  cost::UsageMeter w0(&cap), w1(&cap);
  w1.add("r", "p", "k", "", {100, 50, 0, 0, 0}, 50, true);
  w0.add("r", "p", "a", "", {1, 1, 0, 0, 0}, 0.001, true);
  w0.add("r", "p", "b", "", {1, 1, 0, 0, 0}, 0.001, true);
  auto merge = [&] {
    std::map<std::string, cost::UsageSeries> merged;
    uint64_t overflowed = 0;
    w0.mergeInto(&merged, &overflowed);
    w1.mergeInto(&merged, &overflowed);
    return std::make_pair(merged, overflowed);
  };
  auto costOf = [](const std::map<std::string, cost::UsageSeries>& m, const std::string& model) {
    for (const auto& [key, s] : m) {
      if (s.model == model) return s.cost_usd;
    }
    return -1.0;
  };
  auto [before, overflow_before] = merge();
  CHECK(costOf(before, "k") == 50);
  CHECK(costOf(before, "_other") == -1.0);
  w0.add("r", "p", "c", "", {1, 1, 0, 0, 0}, 0.002, true);  // past the cap, on the other worker
  w0.add("r", "p", "c", "", {1, 1, 0, 0, 0}, 0.002, true);
  w1.add("r", "p", "d", "", {1, 1, 0, 0, 0}, 0.003, true);
  auto [after, overflow_after] = merge();
  CHECK(costOf(after, "k") == 50);
  CHECK(costOf(after, "_other") == Approx(0.007));
  CHECK(after.size() == 4);
  CHECK(overflow_before == 0);
  CHECK(overflow_after == 3);  // each attempt under "_other" counted once
}

// A cost alert by route or tenant reads these series: past the cap they lost the route and the
// tenant too, and a tenant's spend went unseen once another had used up the label sets.
TEST_CASE("usage meter: past the cap a tenant's spending keeps its route and tenant, only the model is _other") {
  cost::UsageSeriesCap cap(2);
  cost::UsageMeter meter(&cap);
  meter.add("default", "p", "m1", "filler", {1, 1, 0, 0, 0}, 0.01, true);
  meter.add("default", "p", "m2", "filler", {1, 1, 0, 0, 0}, 0.01, true);
  meter.add("default", "p", "m1", "acme", {100, 100, 0, 0, 0}, 10, true);
  meter.add("default", "p", "m3", "acme", {100, 100, 0, 0, 0}, 5, true);
  std::map<std::string, cost::UsageSeries> merged;
  uint64_t overflowed = 0;
  meter.mergeInto(&merged, &overflowed);
  CHECK(overflowed == 2);
  double acme = 0;
  for (const auto& [key, s] : merged) {
    if (s.route == "default" && s.tenant == "acme") {
      CHECK(s.model == "_other");
      acme += s.cost_usd;
    }
  }
  CHECK(acme == Approx(15));
}

TEST_CASE("usage meter: a tenant label, capped process-wide, splits the series") {
  telemetry::TenantLabels tenants(2);
  CHECK(tenants.label("acme") == "acme");
  CHECK(tenants.label("globex") == "globex");
  CHECK(tenants.label("initech") == "_other");  // past the cap
  CHECK(tenants.label("acme") == "acme");       // a tenant once named keeps its name
  CHECK(tenants.tenants() == 2);
  CHECK(tenants.overflowed() == 1);
  cost::UsageMeter meter;
  meter.add("r", "p", "m", tenants.label("acme"), {10, 5, 0, 0, 0}, 0.5, true);
  meter.add("r", "p", "m", tenants.label("initech"), {1, 1, 0, 0, 0}, 0.25, true);
  meter.add("r", "p", "m", tenants.label("umbrella"), {1, 1, 0, 0, 0}, 0.25, true);
  std::map<std::string, cost::UsageSeries> merged;
  uint64_t overflowed = 0;
  meter.mergeInto(&merged, &overflowed);
  std::string text = cost::renderUsageMetrics(merged, overflowed);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"m\",tenant=\"acme\"} 0.5\n") != std::string::npos);
  CHECK(text.find("outrigger_cost_usd_total{route=\"r\",provider=\"p\",model=\"m\",tenant=\"_other\"} 0.5\n") != std::string::npos);
  CHECK(text.find("initech") == std::string::npos);
}
