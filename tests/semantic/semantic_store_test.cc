// cache.semantic's store, guard and scope without the daemon: partitions are kept apart,
// the threshold and the guard decide hits, and the entry, byte and time bounds evict.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <outrigger/plugin.h>

#include "cache_scope.h"
#include "quantized_space.h"
#include "query_guard.h"
#include "semantic_store.h"
#include "support/resident_memory.h"

using namespace outrigger::semantic;

namespace {

constexpr size_t kDims = 32;

std::vector<float> unitVector(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n;
  std::vector<float> v(kDims);
  double norm = 0;
  for (float& x : v) {
    x = n(rng);
    norm += double(x) * x;
  }
  for (float& x : v) x = float(x / std::sqrt(norm));
  return v;
}

// `v` turned towards another random direction until its cosine with `v` is about `cosine`.
std::vector<float> near(const std::vector<float>& v, double cosine, uint32_t seed) {
  std::vector<float> w = unitVector(seed);
  double dot = 0;
  for (size_t i = 0; i < kDims; ++i) dot += double(v[i]) * w[i];
  std::vector<float> out(kDims);
  double norm = 0;
  for (size_t i = 0; i < kDims; ++i) {
    out[i] = float(w[i] - dot * v[i]);
    norm += double(out[i]) * out[i];
  }
  double s = std::sqrt(1 - cosine * cosine);
  for (size_t i = 0; i < kDims; ++i) out[i] = float(cosine * v[i] + s * out[i] / std::sqrt(norm));
  return out;
}

StoreLimits limits(size_t max_entries = 1000, size_t max_bytes = 64u << 20) {
  StoreLimits l;
  l.dims = kDims;
  l.max_entries = max_entries;
  l.max_bytes = max_bytes;
  return l;
}

CachedAnswer answer(const std::string& text) { return {text, "stop", "m", 3, 4, {}}; }

constexpr uint64_t kNow = 1000, kLater = 2000000000;

}  // namespace

TEST_CASE("the same vector in another partition is never a hit") {
  SemanticStore store(limits());
  auto v = unitVector(1);
  REQUIRE(store.add("tenant-a", v.data(), "q", marksOf("q"), answer("a's answer"), kLater));
  Match other = store.find("tenant-b", v.data(), marksOf("q"), 0.0f, kNow);
  CHECK_FALSE(other.hit);
  CHECK_FALSE(other.found_any);
  Match own = store.find("tenant-a", v.data(), marksOf("q"), 0.99f, kNow);
  REQUIRE(own.hit);
  CHECK(own.answer.content == "a's answer");
  CHECK(own.hit_similarity == Approx(1.0).margin(1e-4));
}

TEST_CASE("a candidate under the threshold is a miss, and its similarity is still reported") {
  SemanticStore store(limits());
  auto v = unitVector(2);
  REQUIRE(store.add("p", v.data(), "q", marksOf("q"), answer("x"), kLater));
  auto q = near(v, 0.90, 3);
  Match m = store.find("p", q.data(), marksOf("q"), 0.95f, kNow);
  CHECK_FALSE(m.hit);
  REQUIRE(m.found_any);
  CHECK(m.best_similarity == Approx(0.90).margin(1e-3));
  CHECK(store.find("p", q.data(), marksOf("q"), 0.89f, kNow).hit);
}

TEST_CASE("at a threshold of 1.0 the same vector is a hit, whatever its sum's rounding") {
  SemanticStore store(limits());
  for (int seed = 1; seed <= 50; ++seed) {
    auto v = unitVector(seed);
    std::string key = "p" + std::to_string(seed);
    REQUIRE(store.add(key, v.data(), "q", marksOf("q"), answer("x"), kLater));
    INFO("seed " << seed);
    CHECK(store.find(key, v.data(), marksOf("q"), 1.0f, kNow).hit);
  }
}

TEST_CASE("the guard refuses numbers and operators in another order") {
  const std::pair<const char*, const char*> different[] = {
      {"What is 10 / 2?", "What is 2 / 10?"},
      {"Is 5 > 3?", "Is 3 > 5?"},
      {"12 * 7 + 3", "12 + 7 * 3"},
      {"10 divided by 2", "2 divided by 10"},
      {"What is 2^10?", "What is 10^2?"},
  };
  for (const auto& [a, b] : different) {
    INFO(a << " / " << b);
    CHECK(guardRefusal(marksOf(a), marksOf(b)) == "number");
  }
  CHECK(guardRefusal(marksOf("flights from 3 to 5 pm"), marksOf("Flights from 3 to 5 PM?")).empty());
}

TEST_CASE("the guard refuses a candidate that differs in a negation word or a number") {
  SemanticStore store(limits());
  auto v = unitVector(4);
  REQUIRE(store.add("p", v.data(), "Is it safe to eat raw eggs?", marksOf("Is it safe to eat raw eggs?"), answer("x"), kLater));
  Match negated = store.find("p", v.data(), marksOf("Is it not safe to eat raw eggs?"), 0.9f, kNow);
  CHECK_FALSE(negated.hit);
  CHECK(negated.refused_by == "negation");
  CHECK(store.find("p", v.data(), marksOf("Is it not safe to eat raw eggs?"), 0.9f, kNow, /*guard=*/false).hit);

  REQUIRE(store.add("n", v.data(), "Rice for 2 people", marksOf("Rice for 2 people"), answer("y"), kLater));
  Match other_number = store.find("n", v.data(), marksOf("Rice for 6 people"), 0.9f, kNow);
  CHECK_FALSE(other_number.hit);
  CHECK(other_number.refused_by == "number");
  CHECK(store.find("n", v.data(), marksOf("rice for two people"), 0.9f, kNow).hit);
}

TEST_CASE("the guard reads contractions, number words and separators") {
  CHECK(marksOf("Why isn't my laptop charging?").negations == std::vector<std::string>{"not"});
  CHECK(marksOf("Why doesn't it work").negations == marksOf("Why does it not work").negations);
  CHECK(marksOf("Return it without the receipt").negations.size() == 1);
  CHECK(marksOf("Notebook knowledge").negations.empty());
  CHECK(marksOf("1,000 apples and 3.5 pears").numbers == std::vector<std::string>{"1000", "3.5"});
  CHECK(marksOf("two cups").numbers == std::vector<std::string>{"2"});
  CHECK(guardRefusal(marksOf("in 4 days"), marksOf("in four days")).empty());
  CHECK(guardRefusal(marksOf("in 4 days"), marksOf("in 14 days")) == "number");
}

TEST_CASE("the guard reads typographic apostrophes, contractions typed without one, signs and decimal commas") {
  CHECK(guardRefusal(marksOf("Is it safe to take aspirin daily?"), marksOf("Isn\u2019t it safe to take aspirin daily?")) ==
        "negation");
  CHECK(marksOf("Isn\u02BCt it").negations == std::vector<std::string>{"not"});
  for (const char* typed : {"shouldnt", "isnt", "wont", "didnt", "wasnt", "couldnt"}) {
    INFO(typed);
    CHECK(marksOf(std::string("Why ") + typed + " it work").negations == std::vector<std::string>{"not"});
  }
  CHECK(guardRefusal(marksOf("set it to -5 degrees"), marksOf("set it to 5 degrees")) == "number");
  CHECK(guardRefusal(marksOf("covid-19 symptoms"), marksOf("covid 19 symptoms")).empty());  // a hyphen, not a sign
  CHECK(guardRefusal(marksOf("add 3,5 litres"), marksOf("add 35 litres")) == "number");
  CHECK(guardRefusal(marksOf("1,000 apples"), marksOf("1000 apples")).empty());
}

TEST_CASE("the guard reads operators between numbers, digits of other scripts, fullwidth forms, non- and tens") {
  const std::pair<const char*, const char*> different[] = {
      {"What is 12 * 7?", "What is 12 + 7?"},
      {"Is 5 > 3?", "Is 5 < 3?"},
      {"What is 2^10?", "What is 2*10?"},
      {"What is 6 \u00D7 7?", "What is 6 \u00F7 7?"},
      {"Rice for \uFF12 people", "Rice for \uFF16 people"},
      {"Rice for \u0662 people", "Rice for 6 people"},
      {"Why doesn\uFF07t X work", "Why does X work"},
      {"Is non-alcoholic beer safe in pregnancy?", "Is alcoholic beer safe in pregnancy?"},
      {"2 billion people", "2 trillion people"},
      {"thirty minutes", "forty minutes"},
  };
  for (const auto& [a, b] : different) {
    INFO(a << " / " << b);
    CHECK_FALSE(guardRefusal(marksOf(a), marksOf(b)).empty());
  }
  const std::pair<const char*, const char*> same[] = {
      {"Rice for \uFF12 people", "Rice for 2 people"},
      {"What is 12 * 7?", "what is 12*7"},
      {"thirty minutes", "30 minutes"},
      {"a 3-star hotel", "a 3 star hotel"},
      {"covid-19 symptoms", "covid 19 symptoms"},
  };
  for (const auto& [a, b] : same) {
    INFO(a << " / " << b);
    CHECK(guardRefusal(marksOf(a), marksOf(b)).empty());
  }
}

// A re-ask after a guardrail rejected a hit stores the accepted answer for the same question: it
// sat beside the rejected one at the same distance, and the older could go on winning.
TEST_CASE("an answer stored again for the same question in a partition takes the old one's place") {
  SemanticStore store(limits());
  auto v = unitVector(30), w = unitVector(31);
  REQUIRE(store.add("p", v.data(), "q", marksOf("q"), answer("rejected"), kLater));
  REQUIRE(store.add("p", w.data(), "other", marksOf("other"), answer("kept"), kLater));
  REQUIRE(store.add("p", v.data(), "q", marksOf("q"), answer("accepted"), kLater));
  CHECK(store.counts().entries == 2);
  Match m = store.find("p", v.data(), marksOf("q"), 0.99f, kNow);
  REQUIRE(m.hit);
  CHECK(m.answer.content == "accepted");
  CHECK(store.find("p", w.data(), marksOf("other"), 0.99f, kNow).answer.content == "kept");
  // Another partition's entry for the same question is its own.
  REQUIRE(store.add("p2", v.data(), "q", marksOf("q"), answer("p2's"), kLater));
  CHECK(store.counts().entries == 3);
}

TEST_CASE("the entry bound evicts the least recently used entry") {
  SemanticStore store(limits(2));
  auto a = unitVector(10), b = unitVector(11), c = unitVector(12);
  store.add("p", a.data(), "a", {}, answer("A"), kLater);
  store.add("p", b.data(), "b", {}, answer("B"), kLater);
  REQUIRE(store.find("p", a.data(), {}, 0.99f, kNow).hit);  // a is now the most recent
  store.add("p", c.data(), "c", {}, answer("C"), kLater);
  CHECK(store.counts().entries == 2);
  CHECK(store.counts().evictions == 1);
  CHECK(store.find("p", a.data(), {}, 0.99f, kNow).hit);
  CHECK_FALSE(store.find("p", b.data(), {}, 0.99f, kNow).hit);
  CHECK(store.find("p", c.data(), {}, 0.99f, kNow).hit);
}

TEST_CASE("the byte bound evicts, and an emptied partition gives its memory back") {
  SemanticStore store(limits(1000, 65536));
  auto a = unitVector(20), b = unitVector(21);
  store.add("p1", a.data(), "a", {}, answer(std::string(30000, 'x')), kLater);
  size_t one = store.counts().bytes;
  CHECK(one > 30000);
  store.add("p2", b.data(), "b", {}, answer(std::string(40000, 'y')), kLater);
  StoreCounts c = store.counts();
  CHECK(c.bytes <= 65536);
  CHECK(c.bytes > 40000);
  CHECK(c.entries == 1);
  CHECK(c.partitions == 1);
  CHECK(store.find("p2", b.data(), {}, 0.99f, kNow).hit);
}

// Unicode quotes, dashes, spaces and ellipses are separators: "“not”" used to be one word the
// guard did not know, and the negation went unseen.
TEST_CASE("the guard reads words set off by Unicode quotes, dashes, spaces and ellipses") {
  const auto plain = marksOf("Is it safe to mix bleach and ammonia?");
  CHECK(guardRefusal(plain, marksOf("Is it \u201cnot\u201d safe to mix bleach and ammonia?")) == "negation");
  CHECK(guardRefusal(plain, marksOf("Is it safe\u2014or not\u2014to mix bleach and ammonia?")) == "negation");
  CHECK(guardRefusal(plain, marksOf("Is it not\u00a0safe to mix bleach and ammonia?")) == "negation");
  CHECK(guardRefusal(plain, marksOf("Is it safe to mix bleach and ammonia\u2026or not?")) == "negation");
  CHECK(guardRefusal(plain, marksOf("Isn`t it safe to mix bleach and ammonia?")) == "negation");
  CHECK(guardRefusal(plain, marksOf("Isn\u2018t it safe to mix bleach and ammonia?")) == "negation");
  CHECK(guardRefusal(marksOf("set it to -5 degrees"), marksOf("set it to \u22125 degrees")).empty());
  CHECK(guardRefusal(marksOf("rice for 2"), marksOf("rice for\u00a06")) == "number");
  // Letters beyond ASCII stay in their word: no negation is read into "caf\u00e9 nota".
  CHECK(marksOf("caf\u00e9 nota bene").negations.empty());
  CHECK(guardRefusal(plain, marksOf("Is it safe to mix bleach and ammonia?")).empty());
}

TEST_CASE("the byte bound counts the guard's words: a query of many numbers is counted at what it holds") {
  std::string ones;
  for (int i = 0; i < 4000; ++i) ones += "1 ";
  QueryMarks marks = marksOf(ones);
  REQUIRE(marks.numbers.size() == 4000);
  SemanticStore store(limits());
  auto v = unitVector(60);
  REQUIRE(store.add("p", v.data(), ones, marks, answer("a"), kLater));
  CHECK(store.counts().bytes > 4000 * sizeof(std::string));
}

TEST_CASE("an answer larger than max_entry_bytes is not stored") {
  StoreLimits l = limits();
  l.max_entry_bytes = 1000;
  SemanticStore store(l);
  auto a = unitVector(30);
  CHECK_FALSE(store.add("p", a.data(), "a", {}, answer(std::string(2000, 'x')), kLater));
  CHECK(store.counts().entries == 0);
}

TEST_CASE("an expired entry is not served and is dropped, and its slot is reused") {
  SemanticStore store(limits());
  auto a = unitVector(40), b = unitVector(41), c = unitVector(42);
  store.add("p", a.data(), "a", {}, answer("A"), 5000);
  store.add("p", b.data(), "b", {}, answer("B"), kLater);
  CHECK(store.find("p", a.data(), {}, 0.99f, 4000).hit);
  Match late = store.find("p", a.data(), {}, 0.99f, 6000);
  CHECK_FALSE(late.hit);
  CHECK(store.counts().expirations == 1);
  CHECK(store.counts().entries == 1);
  store.add("p", c.data(), "c", {}, answer("C"), kLater);
  CHECK(store.find("p", c.data(), {}, 0.99f, 6000).answer.content == "C");
  CHECK(store.find("p", b.data(), {}, 0.99f, 6000).answer.content == "B");
}

// Expired entries held their place until a search met them: they showed in the gauges, and a
// store past the entry bound evicted a live entry while they stayed.
TEST_CASE("expired entries go before any live one is evicted, and leave the counts") {
  SemanticStore store(limits(/*max_entries=*/2));
  auto a = unitVector(50), b = unitVector(51), c = unitVector(52);
  store.add("p", a.data(), "a", {}, answer("A"), 5000);
  store.add("q", b.data(), "b", {}, answer("B"), kLater);
  CHECK(store.find("p", a.data(), {}, 0.99f, 4000).hit);  // a is now the most recently used
  store.expire(4999);
  CHECK(store.counts().entries == 2);
  store.expire(6000);
  StoreCounts gone = store.counts();
  CHECK(gone.entries == 1);
  CHECK(gone.partitions == 1);
  CHECK(gone.expirations == 1);
  store.add("q", c.data(), "c", {}, answer("C"), kLater);
  StoreCounts after = store.counts();
  CHECK(after.entries == 2);
  CHECK(after.evictions == 0);
  CHECK(store.find("q", b.data(), {}, 0.99f, 6000).answer.content == "B");
  CHECK(store.find("q", c.data(), {}, 0.99f, 6000).answer.content == "C");
  // Its slot is reused with a time to live of its own.
  store.add("q", a.data(), "a", {}, answer("A2"), 7000);
  CHECK(store.counts().evictions == 1);  // the bound of two: the least recently used, b, went
  store.expire(8000);
  CHECK(store.counts().entries == 1);
  CHECK(store.find("q", c.data(), {}, 0.99f, 8000).answer.content == "C");
}

TEST_CASE("a partition grows past its first capacity and still finds every entry") {
  SemanticStore store(limits(10000));
  std::vector<std::vector<float>> vs;
  for (uint32_t i = 0; i < 300; ++i) {
    vs.push_back(unitVector(1000 + i));
    REQUIRE(store.add("p", vs.back().data(), "q" + std::to_string(i), {}, answer(std::to_string(i)), kLater));
  }
  size_t found = 0;
  for (uint32_t i = 0; i < 300; ++i) found += store.find("p", vs[i].data(), {}, 0.999f, kNow).answer.content == std::to_string(i);
  CHECK(found == 300);
}

using outrigger::testing::grownSince;
using outrigger::testing::kRssMeasurable;
using outrigger::testing::residentBytes;

TEST_CASE("a partition of a few entries holds no index: a thousand of them take what the byte bound counts") {
  // hnswlib makes 2.6 MB of locks for each index however small, so an index per partition
  // took 2.6 GB here while the store counted 5 MB against its bound.
  SemanticStore store(limits(100000, 256u << 20));
  size_t before = residentBytes();
  for (uint32_t i = 0; i < 1000; ++i) {
    auto v = unitVector(5000 + i);
    REQUIRE(store.add("tenant-" + std::to_string(i), v.data(), "q", {}, answer("a"), kLater));
  }
  StoreCounts c = store.counts();
  CHECK(c.partitions == 1000);
  CHECK(c.bytes < (4u << 20));
  if (kRssMeasurable) CHECK(grownSince(before) < (32u << 20));
  for (uint32_t i = 0; i < 1000; i += 97) {
    CHECK(store.find("tenant-" + std::to_string(i), unitVector(5000 + i).data(), {}, 0.999f, kNow).hit);
  }
}

TEST_CASE("a partition gets its index at 512 entries, counts it, and finds every entry while moving to it") {
  SemanticStore store(limits(100000, 256u << 20));
  std::vector<std::vector<float>> vs;
  auto allFound = [&] {
    size_t found = 0;
    for (uint32_t i = 0; i < vs.size(); ++i) {
      found += store.find("p", vs[i].data(), {}, 0.999f, kNow).answer.content == std::to_string(i);
    }
    return found;
  };
  size_t bytes_scanned = 0;
  for (uint32_t i = 0; i < 1400; ++i) {
    vs.push_back(unitVector(20000 + i));
    REQUIRE(store.add("p", vs.back().data(), "q", {}, answer(std::to_string(i)), kLater));
    if (vs.size() == SemanticStore::kIndexFromEntries - 1) {
      bytes_scanned = store.counts().bytes;
      CHECK(bytes_scanned < (1u << 20));
      CHECK(allFound() == vs.size());
    }
    if (vs.size() == SemanticStore::kIndexFromEntries) {
      CHECK(store.counts().bytes > bytes_scanned + SemanticStore::kIndexFixedBytes);
    }
    if (vs.size() == 600) CHECK(allFound() == vs.size());  // part in the index, part scanned
  }
  CHECK(allFound() == vs.size());  // all in the index
}

TEST_CASE("entries evicted while a partition moves into its index leave the rest found, and their labels reused") {
  SemanticStore store(limits(560, 256u << 20));
  std::vector<std::vector<float>> vs;
  for (uint32_t i = 0; i < 900; ++i) {
    vs.push_back(unitVector(30000 + i));
    REQUIRE(store.add("p", vs.back().data(), "q", {}, answer(std::to_string(i)), kLater));
  }
  CHECK(store.counts().entries == 560);
  CHECK(store.counts().evictions == 340);
  size_t found = 0, stale = 0;
  for (uint32_t i = 0; i < 900; ++i) {
    Match m = store.find("p", vs[i].data(), {}, 0.999f, kNow);
    if (i >= 340) found += m.answer.content == std::to_string(i);
    else stale += m.hit;
  }
  CHECK(found == 560);
  CHECK(stale == 0);
}

TEST_CASE("under a byte bound too small for an index's fixed part a partition stays scanned") {
  SemanticStore store(limits(100000, 4u << 20));
  std::vector<std::vector<float>> vs;
  for (uint32_t i = 0; i < 800; ++i) {
    vs.push_back(unitVector(40000 + i));
    REQUIRE(store.add("p", vs.back().data(), "q", {}, answer(std::to_string(i)), kLater));
  }
  StoreCounts c = store.counts();
  CHECK(c.entries == 800);  // an index would have pushed the bytes over the bound and evicted
  CHECK(c.bytes < SemanticStore::kIndexFixedBytes);
  CHECK(store.find("p", vs[0].data(), {}, 0.999f, kNow).answer.content == "0");
  CHECK(store.find("p", vs[799].data(), {}, 0.999f, kNow).answer.content == "799");
}

namespace {

struct ViewOf {
  std::vector<outrigger_message_view> messages;
  outrigger_params_view params{};
  outrigger_metadata_view metadata{};
  outrigger_request_view req{};
  ViewOf(const char* tenant, const char* system, const char* user) {
    if (system[0]) messages.push_back({{"system", 6}, {system, strlen(system)}, {}, {}, nullptr, 0});
    messages.push_back({{"user", 4}, {user, strlen(user)}, {}, {}, nullptr, 0});
    metadata.tenant = {tenant, strlen(tenant)};
    req.route = {"default", 7};
    req.model = {"m", 1};
    req.messages = messages.data();
    req.message_count = messages.size();
    req.params = &params;
    req.metadata = &metadata;
  }
};

}  // namespace

TEST_CASE("the partition key separates tenants, system prompts, tools and response formats, not questions") {
  ViewOf a("t1", "be brief", "hello"), b("t1", "be brief", "another question");
  CHECK(partitionKey(a.req, KeyText::kLastUser) == partitionKey(b.req, KeyText::kLastUser));
  CHECK(partitionKey(a.req, KeyText::kLastUser) != partitionKey(ViewOf("t2", "be brief", "hello").req, KeyText::kLastUser));
  CHECK(partitionKey(a.req, KeyText::kLastUser) != partitionKey(ViewOf("t1", "be verbose", "hello").req, KeyText::kLastUser));
  ViewOf tools("t1", "be brief", "hello");
  outrigger_tool_view tool{{"function", 8}, {"lookup", 6}, {}, {"{}", 2}};
  tools.params.tools = &tool;
  tools.params.tool_count = 1;
  CHECK(partitionKey(a.req, KeyText::kLastUser) != partitionKey(tools.req, KeyText::kLastUser));
  ViewOf json("t1", "be brief", "hello");
  json.params.response_format = 1;
  CHECK(partitionKey(a.req, KeyText::kLastUser) != partitionKey(json.req, KeyText::kLastUser));
  CHECK(keyText(a.req, KeyText::kLastUser) == "hello");
  CHECK(keyText(a.req, KeyText::kConversation) == "system: be brief\nuser: hello\n");
}

TEST_CASE("with the last user message as key, the turns before it are part of the partition") {
  auto follow_up = [](const char* topic) {
    auto v = std::make_unique<ViewOf>("t1", "be brief", "Tell me about a city");
    v->messages.push_back({{"assistant", 9}, {topic, strlen(topic)}, {}, {}, nullptr, 0});
    v->messages.push_back({{"user", 4}, {"What is its population?", 23}, {}, {}, nullptr, 0});
    v->req.messages = v->messages.data();
    v->req.message_count = v->messages.size();
    return v;
  };
  auto paris = follow_up("Paris is the capital of France."), london = follow_up("London is the capital of England.");
  CHECK(keyText(paris->req, KeyText::kLastUser) == keyText(london->req, KeyText::kLastUser));
  CHECK(partitionKey(paris->req, KeyText::kLastUser) != partitionKey(london->req, KeyText::kLastUser));
  // The whole conversation is the embedded text in the other mode: its partition leaves turns out.
  CHECK(partitionKey(paris->req, KeyText::kConversation) == partitionKey(london->req, KeyText::kConversation));
  // A first question shares its partition with the same question in any conversation's start.
  ViewOf first("t1", "be brief", "hello"), again("t1", "be brief", "hello there");
  CHECK(partitionKey(first.req, KeyText::kLastUser) == partitionKey(again.req, KeyText::kLastUser));
}

// An answer made under a limit (max_tokens, a stop sequence, a provider-specific field such as
// logprobs) is not the answer to a request without it, nor the other way round.
TEST_CASE("the partition key separates what limits or shapes the answer, not sampling") {
  ViewOf a("t1", "be brief", "hello");
  const auto key = [](const ViewOf& v) { return partitionKey(v.req, KeyText::kLastUser); };
  ViewOf capped("t1", "be brief", "hello");
  capped.params.present = OUTRIGGER_PARAM_MAX_TOKENS;
  capped.params.max_tokens = 3;
  CHECK(key(a) != key(capped));
  ViewOf stopped("t1", "be brief", "hello");
  outrigger_str stop{".", 1};
  stopped.params.stop = &stop;
  stopped.params.stop_count = 1;
  CHECK(key(a) != key(stopped));
  ViewOf extra("t1", "be brief", "hello");
  extra.params.extra_json = {R"({"logprobs":true})", 17};
  CHECK(key(a) != key(extra));
  ViewOf warm("t1", "be brief", "hello");
  warm.params.present = OUTRIGGER_PARAM_TEMPERATURE;
  warm.params.temperature = 1.2;
  CHECK(key(a) == key(warm));
}

TEST_CASE("the question's place among the turns, and the calls an assistant made, are part of the partition") {
  auto conversation = [](std::vector<outrigger_message_view> turns) {
    auto v = std::make_unique<ViewOf>("t1", "", "Tell me about Rome.");
    for (auto& t : turns) v->messages.push_back(t);
    v->req.messages = v->messages.data();
    v->req.message_count = v->messages.size();
    return v;
  };
  outrigger_message_view answer{{"assistant", 9}, {"Rome is old.", 12}, {}, {}, nullptr, 0};
  outrigger_message_view ask{{"user", 4}, {"Translate your last answer.", 27}, {}, {}, nullptr, 0};
  auto follow_up = conversation({answer, ask}), prefill = conversation({ask, answer});
  // The question before a prefilled assistant turn instead of after it: the same other turns,
  // in the same order, and the same embedded text.
  CHECK(keyText(follow_up->req, KeyText::kLastUser) == keyText(prefill->req, KeyText::kLastUser));
  CHECK(partitionKey(follow_up->req, KeyText::kLastUser) != partitionKey(prefill->req, KeyText::kLastUser));

  outrigger_tool_call_view oslo{{"c1", 2}, {"function", 8}, {"weather", 7}, {R"({"city":"Oslo"})", 15}};
  outrigger_tool_call_view rome{{"c1", 2}, {"function", 8}, {"weather", 7}, {R"({"city":"Rome"})", 15}};
  outrigger_message_view called_oslo{{"assistant", 9}, {}, {}, {}, &oslo, 1};
  outrigger_message_view called_rome{{"assistant", 9}, {}, {}, {}, &rome, 1};
  auto in_oslo = conversation({called_oslo}), in_rome = conversation({called_rome});
  CHECK(keyText(in_oslo->req, KeyText::kConversation) == keyText(in_rome->req, KeyText::kConversation));
  CHECK(partitionKey(in_oslo->req, KeyText::kConversation) != partitionKey(in_rome->req, KeyText::kConversation));
}

TEST_CASE("the AVX2 and SSE2 int8 kernels give the same inner products, at every length and at the extremes") {
  if (!cpuHasAvx2()) {
    WARN("this CPU has no AVX2: only the SSE2 kernel runs here");
    return;
  }
  CHECK(activeDotKernel() == DotKernel::kAvx2);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> byte(-128, 127);
  for (size_t n : {0, 1, 15, 16, 17, 31, 32, 33, 63, 256, 384, 385, 1024}) {
    std::vector<int8_t> a(n), b(n);
    for (size_t i = 0; i < n; ++i) a[i] = int8_t(byte(rng)), b[i] = int8_t(byte(rng));
    int64_t exact = 0;
    for (size_t i = 0; i < n; ++i) exact += int64_t(a[i]) * b[i];
    CHECK(dotInt8(DotKernel::kSse2, a.data(), b.data(), n) == exact);
    CHECK(dotInt8(DotKernel::kAvx2, a.data(), b.data(), n) == exact);
  }
  // The extremes the quantizer can produce (-127..127), and -128 beside them.
  std::vector<int8_t> low(384, -128), high(384, 127);
  CHECK(dotInt8(DotKernel::kAvx2, low.data(), high.data(), 384) == -128 * 127 * 384);
  CHECK(dotInt8(DotKernel::kAvx2, low.data(), low.data(), 384) == 128 * 128 * 384);
}

TEST_CASE("the int8 index's distance stays within 0.01 of the exact one, which hits are decided on") {
  std::vector<uint8_t> qa(quantizedBytes(kDims)), qb(quantizedBytes(kDims));
  double worst = 0;
  for (uint32_t seed = 0; seed < 200; ++seed) {
    auto a = unitVector(5000 + seed), b = near(a, 0.5 + seed / 400.0, 9000 + seed);
    quantize(a.data(), kDims, qa.data());
    quantize(b.data(), kDims, qb.data());
    double exact = 0;
    for (size_t i = 0; i < kDims; ++i) exact += double(a[i]) * b[i];
    size_t dims = kDims;
    worst = std::max(worst, std::fabs((1.0 - quantizedDistance(qa.data(), qb.data(), &dims)) - exact));
  }
  CHECK(worst < 0.01);
  CHECK(worst > 0);  // it is an approximation: the store rescores in float
}
