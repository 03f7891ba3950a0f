// provider.mock: a deterministic provider with no network, for tests, benchmarks and the
// default config. Answers by echo, fixed text or a script; adds latency; streams in chunks;
// injects faults (error status, hang until the deadline, stream cut mid-way).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "bounded_json.h"

namespace {

using namespace outrigger::plugin;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "mode": {"enum": ["echo", "fixed", "scripted"], "description": "how the answer is chosen"},
    "text": {"type": "string", "description": "the answer in fixed mode"},
    "script": {"type": "array", "items": {"type": "string"}, "description": "answers in turn, scripted mode"},
    "latency_ms": {"type": "integer", "minimum": 0, "maximum": 86400000, "description": "delay before the first chunk"},
    "latency_jitter_ms": {"type": "integer", "minimum": 0, "maximum": 86400000, "description": "uniform extra delay 0..N"},
    "stream_chunks": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "chunks per answer"},
    "chunk_interval_ms": {"type": "integer", "minimum": 0, "maximum": 86400000},
    "fail_every": {"type": "integer", "minimum": 0, "maximum": 4294967295, "description": "every Nth request fails, chat and embeddings counted together (0: never)"},
    "fail_code": {"enum": ["CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"], "description": "the code a failure ends with (default UNAVAILABLE); a typo is refused, not UNKNOWN"},
    "fail_retryable": {"type": "boolean"},
    "fail_billed": {"type": "boolean", "description": "those failures report the prompt's tokens as used, as an upstream that billed them"},
    "allow_request_overrides": {"type": "boolean", "description": "honour params.extra_json {\"mock\": {...}}"},
    "seed": {"type": "integer", "maximum": 9223372036854775807},
    "model": {"type": "string", "minLength": 1, "description": "the model answers name (default mock-1)"},
    "embedding_dimensions": {"type": "integer", "minimum": 1, "maximum": 65536, "description": "vector length of embed answers without 'dimensions' (default 8)"}
  }
})json";

struct Fault {
  std::string code;  // empty: no failure
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  std::string message;
};

// What one request will do.
struct ToolCallPlan {
  std::string id, name, arguments;
};

// One chunk to send: text, or a fragment of a tool call.
struct Piece {
  std::string text;
  int tool_index = -1;
  std::string id, name, arguments;  // id and name only on a call's first fragment
};

struct Plan {
  std::string answer;
  std::vector<ToolCallPlan> tool_calls;
  uint32_t chunks = 1;
  uint32_t latency_ms = 0;
  uint32_t interval_ms = 0;
  bool hang = false;
  int32_t cut_after = -1;
  Fault fault;
};

struct Job {
  outrigger_request handle;
  Plan plan;
  std::vector<Piece> pieces;
  size_t next = 0;
  bool paused = false;
  uint32_t prompt_tokens = 0;
};

outrigger_code codeFromName(const std::string& name) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                 "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  for (int i = 0; i < 17; ++i) {
    if (name == kNames[i]) return i;
  }
  return OUTRIGGER_CODE_UNKNOWN;
}

uint32_t words(std::string_view s) {
  uint32_t n = 0;
  bool in = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

class MockProvider final : public Provider {
 public:
  static constexpr const char* kName = "mock";
  static constexpr const char* kDescription = "Deterministic provider for tests and demos: echo, fixed or scripted answers, latency, chunks and fault injection";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_STABLE;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_STREAMING;

  MockProvider(Host host, std::string_view name, std::string_view config) : Provider(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("mode")) mode_ = d["mode"].GetString();
    if (d.HasMember("text")) text_ = d["text"].GetString();
    if (d.HasMember("script")) {
      for (const auto& v : d["script"].GetArray()) script_.emplace_back(v.GetString());
    }
    if (mode_ == "scripted" && script_.empty()) throw std::runtime_error("scripted mode needs a non-empty 'script'");
    if (mode_ == "fixed" && !d.HasMember("text")) throw std::runtime_error("fixed mode needs 'text'");
    latency_ms_ = uintOr(d, "latency_ms", 0);
    jitter_ms_ = uintOr(d, "latency_jitter_ms", 0);
    chunks_ = uintOr(d, "stream_chunks", 1);
    interval_ms_ = uintOr(d, "chunk_interval_ms", 0);
    fail_every_ = uintOr(d, "fail_every", 0);
    if (d.HasMember("fail_code")) fail_code_ = d["fail_code"].GetString();
    fail_retryable_ = d.HasMember("fail_retryable") && d["fail_retryable"].GetBool();
    fail_billed_ = d.HasMember("fail_billed") && d["fail_billed"].GetBool();
    overrides_ = d.HasMember("allow_request_overrides") && d["allow_request_overrides"].GetBool();
    embed_dims_ = uintOr(d, "embedding_dimensions", 8);
    if (d.HasMember("model")) model_ = d["model"].GetString();
    rng_.seed(d.HasMember("seed") ? static_cast<uint64_t>(d["seed"].GetInt64()) : 42);
  }

  outrigger_status start(const outrigger_request_view& req) override {
    Job job;
    job.handle = req.handle;
    job.plan = planFor(req);
    for (size_t i = 0; i < req.message_count; ++i) job.prompt_tokens += words(view(req.messages[i].content));
    job.pieces = piecesOf(job.plan);
    if (job.plan.hang) {
      hanging_.emplace(key(req.handle), std::move(job));
      return OUTRIGGER_PENDING;  // answers never; the deadline or a cancel ends it
    }
    uint64_t k = key(req.handle);
    auto [it, inserted] = jobs_.emplace(k, std::move(job));
    if (it->second.plan.latency_ms == 0) {
      step(k);  // may complete before start returns: the host allows it
    } else {
      schedule(k, it->second.plan.latency_ms);
    }
    return OUTRIGGER_PENDING;
  }

  void cancel(outrigger_request handle) override {
    jobs_.erase(key(handle));
    hanging_.erase(key(handle));
    embeds_.erase(key(handle));
  }

  // Deterministic unit vectors from a hash of each input: `dimensions` of them (else
  // embedding_dimensions, 8 by default); usage is the inputs' word count. The request's extra
  // JSON {"mock": {"latency_ms", "hang", "fail": {...}}} applies when overrides are allowed.
  outrigger_status embed(const outrigger_embed_request_view& req) override {
    EmbedJob job;
    job.handle = req.handle;
    uint32_t dims = req.dimensions ? req.dimensions : embed_dims_;
    for (size_t i = 0; i < req.input_count; ++i) {
      job.vectors.push_back(vectorOf(view(req.inputs[i]), dims));
      job.prompt_tokens += words(view(req.inputs[i]));
    }
    ++count_;  // fail_every counts chat and embeddings requests alike
    if (fail_every_ && count_ % fail_every_ == 0) {
      job.fault = {fail_code_.empty() ? "UNAVAILABLE" : fail_code_, fail_retryable_, 0, "injected failure"};
    }
    uint32_t latency = latency_ms_;
    bool hang = false;
    std::string_view extra = view(req.extra_json);
    if (overrides_ && !extra.empty()) {
      rapidjson::Document d;
      outrigger::json::ParseResult parsed = outrigger::json::parse(extra, &d);
      if (parsed.tooDeep()) job.fault = tooDeepExtras("extra_json");
      if (parsed && d.IsObject() && d.HasMember("mock") && d["mock"].IsObject()) {
        const rapidjson::Value& m = d["mock"];
        latency = uintOr(m, "latency_ms", latency);
        hang = m.HasMember("hang") && m["hang"].IsBool() && m["hang"].GetBool();
        if (m.HasMember("fail") && m["fail"].IsObject()) {
          const rapidjson::Value& f = m["fail"];
          job.fault.code = f.HasMember("code") && f["code"].IsString() ? f["code"].GetString() : "UNAVAILABLE";
          job.fault.retryable = f.HasMember("retryable") && f["retryable"].IsBool() && f["retryable"].GetBool();
          job.fault.retry_after_ms = uintOr(f, "retry_after_ms", 0);
          job.fault.message = f.HasMember("message") && f["message"].IsString() ? f["message"].GetString() : "injected failure";
        }
      }
    }
    uint64_t k = key(req.handle);
    embeds_[k] = std::move(job);
    if (hang) return OUTRIGGER_PENDING;  // the deadline or a cancel ends it
    if (latency == 0) {
      finishEmbed(k);  // may complete before embed returns: the host allows it
      return OUTRIGGER_PENDING;
    }
    outrigger_status st = host().setTimer(req.handle, latency, [this, k](outrigger_status s) {
      if (s != OUTRIGGER_OK) {
        embeds_.erase(k);
        return;
      }
      finishEmbed(k);
    });
    if (st != OUTRIGGER_OK) {
      embeds_.erase(k);
      return st;
    }
    return OUTRIGGER_PENDING;
  }

  void resume(outrigger_request handle) override {
    auto it = jobs_.find(key(handle));
    if (it == jobs_.end() || !it->second.paused) return;
    it->second.paused = false;
    step(it->first);
  }

 private:
  static uint64_t key(outrigger_request h) { return (uint64_t{h.slot} << 32) | h.generation; }

  // Extras the provider refuses to read: a caller's mistake, not worth a retry.
  static Fault tooDeepExtras(const char* field) {
    return {"INVALID_ARGUMENT", false, 0, std::string(field) + ": " + outrigger::json::tooDeepReason()};
  }

  static uint32_t uintOr(const rapidjson::Value& v, const char* name, uint32_t dflt) {
    return v.HasMember(name) && v[name].IsUint() ? v[name].GetUint() : dflt;
  }

  // Text first (in `chunks` pieces), then each tool call as two fragments: id, name and the
  // first half of the arguments, then the rest, as OpenAI-style streams deliver them.
  static std::vector<Piece> piecesOf(const Plan& plan) {
    std::vector<Piece> out;
    if (!plan.answer.empty() || plan.tool_calls.empty()) {
      for (std::string& t : split(plan.answer, plan.chunks)) {
        Piece piece;
        piece.text = std::move(t);
        out.push_back(std::move(piece));
      }
    }
    for (size_t i = 0; i < plan.tool_calls.size(); ++i) {
      const ToolCallPlan& c = plan.tool_calls[i];
      size_t half = c.arguments.size() / 2;
      out.push_back({"", static_cast<int>(i), c.id, c.name, c.arguments.substr(0, half)});
      out.push_back({"", static_cast<int>(i), "", "", c.arguments.substr(half)});
    }
    return out;
  }

  static std::vector<std::string> split(const std::string& s, uint32_t n) {
    std::vector<std::string> out;
    if (n <= 1 || s.size() <= 1) {
      out.push_back(s);
      return out;
    }
    if (n > s.size()) n = static_cast<uint32_t>(s.size());
    size_t base = s.size() / n, extra = s.size() % n, pos = 0;
    for (uint32_t i = 0; i < n; ++i) {
      size_t len = base + (i < extra ? 1 : 0);
      // Never split inside a UTF-8 sequence.
      while (pos + len < s.size() && (static_cast<unsigned char>(s[pos + len]) & 0xC0) == 0x80) ++len;
      if (pos >= s.size()) break;
      out.push_back(s.substr(pos, len));
      pos += len;
    }
    if (pos < s.size()) out.back() += s.substr(pos);
    return out;
  }

  std::string answerFor(const outrigger_request_view& req) {
    if (mode_ == "fixed") return text_;
    if (mode_ == "scripted") return script_[script_pos_++ % script_.size()];
    for (size_t i = req.message_count; i-- > 0;) {
      if (view(req.messages[i].role) == "user") return std::string(view(req.messages[i].content));
    }
    return "";
  }

  static std::string metadataJson(const outrigger_request_view& req) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const outrigger_metadata_view& m = *req.metadata;
    auto field = [&](const char* k, outrigger_str v) {
      w.Key(k);
      w.String(v.data ? v.data : "", static_cast<rapidjson::SizeType>(v.size));
    };
    w.StartObject();
    field("tenant", m.tenant);
    field("user", m.user);
    field("session", m.session);
    field("request_id", m.request_id);
    field("prompt_id", m.prompt_id);
    field("prompt_version", m.prompt_version);
    w.Key("tags");
    w.StartObject();
    for (size_t i = 0; i < m.tag_count; ++i) {
      w.Key(m.tags[i].key.data ? m.tags[i].key.data : "", static_cast<rapidjson::SizeType>(m.tags[i].key.size));
      w.String(m.tags[i].value.data ? m.tags[i].value.data : "", static_cast<rapidjson::SizeType>(m.tags[i].value.size));
    }
    w.EndObject();
    w.EndObject();
    return buf.GetString();
  }

  Plan planFor(const outrigger_request_view& req) {
    Plan p;
    p.answer = answerFor(req);
    p.chunks = chunks_;
    p.latency_ms = latency_ms_ + (jitter_ms_ ? static_cast<uint32_t>(rng_() % (jitter_ms_ + 1)) : 0);
    p.interval_ms = interval_ms_;
    ++count_;
    if (fail_every_ && count_ % fail_every_ == 0) {
      p.fault = {fail_code_.empty() ? "UNAVAILABLE" : fail_code_, fail_retryable_, 0, "injected failure"};
    }
    std::string_view extra = view(req.params->extra_json);
    if (!overrides_ || extra.empty()) return p;
    rapidjson::Document d;
    outrigger::json::ParseResult parsed = outrigger::json::parse(extra, &d);
    if (parsed.tooDeep()) p.fault = tooDeepExtras("params.extra_json");
    if (!parsed || !d.IsObject() || !d.HasMember("mock") || !d["mock"].IsObject()) return p;
    const rapidjson::Value& m = d["mock"];
    if (m.HasMember("text") && m["text"].IsString()) p.answer = m["text"].GetString();
    if (m.HasMember("echo_metadata") && m["echo_metadata"].IsBool() && m["echo_metadata"].GetBool()) p.answer = metadataJson(req);
    if (m.HasMember("tool_calls") && m["tool_calls"].IsArray()) {
      for (const auto& c : m["tool_calls"].GetArray()) {
        if (!c.IsObject()) continue;
        auto field = [&](const char* k) { return c.HasMember(k) && c[k].IsString() ? std::string(c[k].GetString()) : std::string(); };
        p.tool_calls.push_back({field("id"), field("name"), field("arguments")});
      }
      if (!m.HasMember("text")) p.answer.clear();  // a tool-only answer, unless text is asked for too
    }
    p.chunks = uintOr(m, "chunks", p.chunks);
    p.latency_ms = uintOr(m, "latency_ms", p.latency_ms);
    p.interval_ms = uintOr(m, "chunk_interval_ms", p.interval_ms);
    p.hang = m.HasMember("hang") && m["hang"].IsBool() && m["hang"].GetBool();
    if (m.HasMember("cut_after_chunks") && m["cut_after_chunks"].IsUint()) {
      // A uint above INT32_MAX is no int: GetInt() on it would trip RapidJSON's assertion.
      p.cut_after = static_cast<int32_t>(std::min<uint32_t>(m["cut_after_chunks"].GetUint(), INT32_MAX));
    }
    if (m.HasMember("fail") && m["fail"].IsObject()) {
      const rapidjson::Value& f = m["fail"];
      p.fault.code = f.HasMember("code") && f["code"].IsString() ? f["code"].GetString() : "UNAVAILABLE";
      p.fault.retryable = f.HasMember("retryable") && f["retryable"].IsBool() && f["retryable"].GetBool();
      p.fault.retry_after_ms = uintOr(f, "retry_after_ms", 0);
      p.fault.message = f.HasMember("message") && f["message"].IsString() ? f["message"].GetString() : "injected failure";
    }
    return p;
  }

  void schedule(uint64_t k, uint32_t delay_ms) {
    outrigger_request h = jobs_.at(k).handle;
    outrigger_status st = host().setTimer(h, delay_ms, [this, k](outrigger_status s) {
      if (s != OUTRIGGER_OK) {
        jobs_.erase(k);  // the request ended while we waited
        return;
      }
      step(k);
    });
    if (st != OUTRIGGER_OK) jobs_.erase(k);
  }

  // Emits the next chunk(s), or the end. Chunks with no interval go out back to back.
  void step(uint64_t k) {
    auto it = jobs_.find(k);
    if (it == jobs_.end()) return;
    Job& job = it->second;
    if (!job.plan.fault.code.empty() && job.plan.cut_after < 0) {
      Fault fault = job.plan.fault;  // finish() destroys the job
      return finish(k, &fault);
    }
    while (job.next < job.pieces.size()) {
      if (job.plan.cut_after >= 0 && job.next == static_cast<size_t>(job.plan.cut_after)) {
        Fault cut{"UNAVAILABLE", true, 0, "upstream stream was cut before its end"};
        return finish(k, &cut);
      }
      const Piece& piece = job.pieces[job.next++];
      outrigger_chunk_view chunk = makeChunk(piece.text);
      if (job.next == 1) chunk.model = str(model_);  // as an upstream names its model as it starts
      outrigger_tool_call_delta_view delta{};
      if (piece.tool_index >= 0) {
        delta = {static_cast<uint32_t>(piece.tool_index), str(piece.id), str(piece.id.empty() ? "" : "function"),
                 str(piece.name), str(piece.arguments)};
        chunk.tool_calls = &delta;
        chunk.tool_call_count = 1;
      }
      outrigger_status rc = host().providerChunk(job.handle, chunk);
      if (rc == OUTRIGGER_PAUSE) {
        job.paused = true;
        return;
      }
      if (rc != OUTRIGGER_OK) {
        jobs_.erase(k);  // the request is over (cancelled, denied, deadline)
        return;
      }
      if (job.plan.interval_ms && job.next < job.pieces.size()) return schedule(k, job.plan.interval_ms);
    }
    if (job.plan.cut_after >= 0 && job.next >= static_cast<size_t>(job.plan.cut_after)) {
      Fault cut{"UNAVAILABLE", true, 0, "upstream stream was cut before its end"};
      return finish(k, &cut);
    }
    finish(k, nullptr);
  }

  void finish(uint64_t k, const Fault* fault) {
    Job job = std::move(jobs_.at(k));
    jobs_.erase(k);
    if (fault) {
      outrigger_response_view r = makeError(codeFromName(fault->code), fault->message, fault->retryable, fault->retry_after_ms);
      if (fail_billed_) r.usage.prompt_tokens = job.prompt_tokens;
      host().providerDone(job.handle, r);
      return;
    }
    outrigger_response_view r = makeResponse();
    r.code = OUTRIGGER_CODE_OK;
    r.finish_reason = str(job.plan.tool_calls.empty() ? "stop" : "tool_calls");
    r.usage.prompt_tokens = job.prompt_tokens;
    r.usage.completion_tokens = words(job.plan.answer);
    r.model = str(model_);
    host().providerDone(job.handle, r);  // content came in the chunks
  }

  struct EmbedJob {
    outrigger_request handle{};
    std::vector<std::vector<float>> vectors;
    uint32_t prompt_tokens = 0;
    Fault fault;
  };

  static std::vector<float> vectorOf(std::string_view text, uint32_t dims) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    std::vector<float> v(dims);
    double norm = 0;
    for (uint32_t i = 0; i < dims; ++i) {
      uint64_t z = (h += 0x9e3779b97f4a7c15ull);  // splitmix64
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      v[i] = static_cast<float>(static_cast<double>(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
      norm += double(v[i]) * v[i];
    }
    if (norm > 0) {
      double inv = 1.0 / std::sqrt(norm);
      for (float& f : v) f = static_cast<float>(f * inv);
    }
    return v;
  }

  void finishEmbed(uint64_t k) {
    auto it = embeds_.find(k);
    if (it == embeds_.end()) return;
    EmbedJob job = std::move(it->second);
    embeds_.erase(it);
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    if (!job.fault.code.empty()) {
      r.code = codeFromName(job.fault.code);
      r.retryable = job.fault.retryable;
      r.retry_after_ms = job.fault.retry_after_ms;
      r.message = str(job.fault.message);
      host().embeddingsDone(job.handle, r);
      return;
    }
    std::vector<outrigger_embedding_view> views;
    for (const auto& v : job.vectors) views.push_back({v.data(), v.size()});
    r.code = OUTRIGGER_CODE_OK;
    r.embeddings = views.data();
    r.embedding_count = views.size();
    r.usage.prompt_tokens = job.prompt_tokens;
    r.model = str("mock-embed-1");
    host().embeddingsDone(job.handle, r);
  }

  std::string mode_ = "echo";
  std::string text_;
  std::string model_ = "mock-1";
  std::vector<std::string> script_;
  size_t script_pos_ = 0;
  uint32_t latency_ms_ = 0, jitter_ms_ = 0, chunks_ = 1, interval_ms_ = 0, fail_every_ = 0;
  std::string fail_code_;
  bool fail_retryable_ = false;
  bool fail_billed_ = false;
  bool overrides_ = false;
  uint64_t count_ = 0;
  std::mt19937_64 rng_;
  std::unordered_map<uint64_t, Job> jobs_;
  std::unordered_map<uint64_t, Job> hanging_;
  std::unordered_map<uint64_t, EmbedJob> embeds_;
  uint32_t embed_dims_ = 8;
};

}  // namespace

OUTRIGGER_PLUGIN("provider_mock", "1.0.0", outrigger::plugin::typeOf<MockProvider>())
