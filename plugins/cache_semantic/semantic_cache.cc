// cache.semantic: answers a request with a stored answer to a similar earlier question. The key
// text is embedded through the host on a configured route (so that route's provider, limits,
// breakers and cost apply), searched in the request's own partition, and served when the best
// candidate passes the threshold and the negation and number guard. One instance serves every
// worker: the store is shared and locked.
#include <outrigger/plugin.hpp>

#include <algorithm>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>

#include "cache_scope.h"
#include "query_guard.h"
#include "semantic_settings.h"
#include "semantic_store.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::semantic;

// What a lookup learned that its store needs: the partition, the query and its vector. Shared
// by the request's state slot and the embed callback, which may outlive each other.
struct LookupState {
  std::string partition, text;
  QueryMarks marks;
  std::vector<float> vector;
};
using StateRef = std::shared_ptr<LookupState>;

std::string fixed4(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

class SemanticCache final : public Cache {
 public:
  static constexpr const char* kName = "semantic";
  static constexpr const char* kDescription =
      "Semantic answer cache: embeds through a route, HNSW per tenant/route/model/prompt partition, negation and number guard";
  static constexpr const char* kConfigSchema = kSemanticSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  SemanticCache(Host host, std::string_view name, std::string_view config)
      : Cache(host, name), settings_(parseSemanticSettings(config)), store_(settings_.limits) {}

  outrigger_status lookup(const outrigger_request_view& req) override {
    auto state = std::make_shared<LookupState>();
    state->text = keyText(req, settings_.key_text);
    if (state->text.empty()) return OUTRIGGER_CONTINUE;  // nothing to compare: a miss, nothing stored
    state->partition = partitionKey(req, settings_.key_text);
    state->marks = marksOf(state->text);
    if (host().setRequestState(req.handle, std::make_unique<StateRef>(state)) != OUTRIGGER_OK) return OUTRIGGER_CONTINUE;

    outrigger_str input = str(state->text);
    outrigger_model_call call{};
    call.hdr = OUTRIGGER_HEADER_INIT(outrigger_model_call);
    call.route = str(settings_.embed_route);
    call.inputs = &input;
    call.input_count = 1;
    call.timeout_ms = embedTimeoutMs(req.deadline_ns);
    outrigger_request handle = req.handle;
    float threshold = float(settings_.thresholdFor(view(req.route)));
    outrigger_status st = host().embed(handle, call, [this, handle, state, threshold](const outrigger_embeddings_view& r) {
      onEmbedded(handle, *state, threshold, r);
    });
    if (st != OUTRIGGER_OK) {
      embed_failures_.fetch_add(1, std::memory_order_relaxed);
      host().spanAttribute(handle, "outrigger.cache.semantic.error", "embed call refused (is the embed route in `calls`?)");
      return OUTRIGGER_CONTINUE;
    }
    return OUTRIGGER_PENDING;
  }

  void store(const outrigger_request_view& req, const outrigger_response_view& resp) override {
    auto* ref = static_cast<StateRef*>(host().requestState(req.handle));
    if (!ref || (*ref)->vector.empty()) return;  // not looked up, or its embedding failed
    if (resp.tool_call_count && !settings_.store_tool_answers) return;
    bool complete = view(resp.finish_reason) == "stop" || (resp.tool_call_count && view(resp.finish_reason) == "tool_calls");
    if (!complete && !settings_.store_incomplete) return;
    const LookupState& s = **ref;
    CachedAnswer a{std::string(view(resp.content)), std::string(view(resp.finish_reason)), std::string(view(resp.model)),
                   resp.usage.prompt_tokens, resp.usage.completion_tokens, {}};
    for (size_t i = 0; i < resp.tool_call_count; ++i) {
      const auto& c = resp.tool_calls[i];
      a.tool_calls.push_back({std::string(view(c.id)), std::string(view(c.type)), std::string(view(c.name)),
                              std::string(view(c.arguments))});
    }
    uint64_t ttl = req.cache_ttl_ms ? req.cache_ttl_ms : settings_.ttl_ms;
    uint64_t now = host().nowNs();
    store_.expire(now);  // the expired go before any live entry is evicted for room
    store_.add(s.partition, s.vector.data(), s.text, s.marks, std::move(a), now + ttl * 1000000);
  }

  void reportMetrics(const MetricsWriter& w) override {
    store_.expire(host().nowNs());
    StoreCounts c = store_.counts();
    w.gauge("semantic_cache_entries", "Entries held by the semantic cache", {}, double(c.entries));
    w.gauge("semantic_cache_partitions", "Partitions (separate sets of entries) of the semantic cache", {}, double(c.partitions));
    w.gauge("semantic_cache_bytes", "Bytes the semantic cache accounts for", {}, double(c.bytes));
    w.counter("semantic_cache_evictions_total", "Entries evicted by the entry or byte bound", {}, double(c.evictions));
    w.counter("semantic_cache_expirations_total", "Entries dropped at their time to live", {}, double(c.expirations));
    w.counter("semantic_cache_lookups_total", "Lookups that searched an index", {}, double(lookups_.load()));
    w.counter("semantic_cache_hits_total", "Lookups answered from the semantic cache", {}, double(hits_.load()));
    w.counter("semantic_cache_guard_refusals_total", "Lookups whose best candidate over the threshold the negation and number guard refused",
              {}, double(guard_refusals_.load()));
    w.counter("semantic_cache_embed_failures_total", "Lookups whose embedding failed or was refused (each a miss)", {},
              double(embed_failures_.load()));
  }

 private:
  // The cache is optional: its embedding may take at most a quarter of what is left of the
  // caller's deadline, so a slow or hung embed route is a miss the provider still has time to
  // answer after, not the request's own timeout.
  uint32_t embedTimeoutMs(uint64_t deadline_ns) const {
    uint32_t timeout = settings_.embed_timeout_ms;
    uint64_t now = host().nowNs();
    if (deadline_ns > now) {
      uint64_t quarter_ms = (deadline_ns - now) / 4000000;
      timeout = uint32_t(std::max<uint64_t>(1, std::min<uint64_t>(timeout, quarter_ms)));
    }
    return timeout;
  }

  // Scales `v` to unit length, as similarity (a dot product) and the int8 copies assume; false when
  // it has none to scale (zero, or not finite). Embedding routes differ: OpenAI's vectors come
  // normalized, some servers' do not, and a vector 10x too long would pass any threshold.
  static bool normalize(std::vector<float>* v) {
    double sum = 0;
    for (float x : *v) sum += double(x) * double(x);
    const double norm = std::sqrt(sum);
    if (!(norm > 1e-12) || !std::isfinite(norm)) return false;
    for (float& x : *v) x = static_cast<float>(x / norm);
    return true;
  }

  // The embedding came back: search, record the best similarity on the lookup's span, answer.
  void onEmbedded(outrigger_request handle, LookupState& state, float threshold, const outrigger_embeddings_view& r) {
    if (r.code == OUTRIGGER_CODE_CANCELLED) {
      // Mostly the request ended first, and cacheDone is STALE. But a provider may say it of its
      // own call while the request lives: a miss then, not a wait until the request's deadline.
      if (host().cacheDone(handle, nullptr) == OUTRIGGER_OK) embed_failures_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (r.code != OUTRIGGER_CODE_OK || r.embedding_count != 1 || r.embeddings[0].size != settings_.limits.dims) {
      host().spanAttribute(handle, "outrigger.cache.semantic.error",
                           r.code != OUTRIGGER_CODE_OK ? "embedding failed" : "embedding has the wrong dimensions");
      // A misconfiguration, not a passing failure: every lookup would miss. Said once in the log.
      if (r.code == OUTRIGGER_CODE_OK && r.embedding_count == 1 && !wrong_dims_logged_.exchange(true)) {
        host().log(OUTRIGGER_LOG_WARN, "the embed route answers vectors of " + std::to_string(r.embeddings[0].size) +
                                           " dimensions, but `dimensions` is " + std::to_string(settings_.limits.dims) +
                                           ": every lookup misses until they agree");
      }
      embed_failures_.fetch_add(1, std::memory_order_relaxed);
      host().cacheDone(handle, nullptr);
      return;
    }
    state.vector.assign(r.embeddings[0].values, r.embeddings[0].values + r.embeddings[0].size);
    if (!normalize(&state.vector)) {
      host().spanAttribute(handle, "outrigger.cache.semantic.error", "embedding is zero or not finite");
      embed_failures_.fetch_add(1, std::memory_order_relaxed);
      host().cacheDone(handle, nullptr);
      return;
    }
    Match m = store_.find(state.partition, state.vector.data(), state.marks, threshold, host().nowNs(), settings_.guard);
    host().spanAttribute(handle, "outrigger.cache.semantic.similarity", m.found_any ? fixed4(m.best_similarity) : "none");
    host().spanAttribute(handle, "outrigger.cache.semantic.threshold", fixed4(threshold));
    lookups_.fetch_add(1, std::memory_order_relaxed);
    if (!m.refused_by.empty()) {
      guard_refusals_.fetch_add(1, std::memory_order_relaxed);
      host().spanAttribute(handle, "outrigger.cache.semantic.guard", m.refused_by);
    }
    if (!m.hit) {
      host().cacheDone(handle, nullptr);
      return;
    }
    outrigger_response_view hit = makeResponse();
    hit.code = OUTRIGGER_CODE_OK;
    hit.content = str(m.answer.content);
    hit.finish_reason = str(m.answer.finish_reason);
    hit.model = str(m.answer.model);
    hit.usage.prompt_tokens = m.answer.prompt_tokens;
    hit.usage.completion_tokens = m.answer.completion_tokens;
    hit.usage.cached_tokens = m.answer.prompt_tokens;
    std::vector<outrigger_tool_call_view> calls;
    for (const auto& c : m.answer.tool_calls) calls.push_back({str(c.id), str(c.type), str(c.name), str(c.arguments)});
    hit.tool_calls = calls.data();
    hit.tool_call_count = calls.size();
    hit.cost_usd = 0;  // a hit costs nothing upstream (the embedding is priced on its own route)
    hits_.fetch_add(1, std::memory_order_relaxed);
    host().cacheDone(handle, &hit);
  }

  SemanticSettings settings_;
  SemanticStore store_;
  std::atomic<uint64_t> lookups_{0}, hits_{0}, guard_refusals_{0}, embed_failures_{0};
  std::atomic<bool> wrong_dims_logged_{false};
};

}  // namespace

OUTRIGGER_PLUGIN("cache_semantic", "1.0.0", outrigger::plugin::typeOf<SemanticCache>())
