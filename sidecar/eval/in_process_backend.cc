#include "eval/in_process_backend.h"

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "bounded_json.h"
#include "chain/call_input.h"
#include "chain/chain.h"
#include "chain/engine.h"
#include "config/config.h"
#include "eval/json_text.h"
#include "event/event_loop.h"
#include "http_client/http_client.h"

namespace outrigger::eval {

namespace {

// The guardrails' verdicts as the socket client reports them (the same numbering as the wire).
std::vector<client::Verdict> clientVerdicts(const std::vector<Verdict>* verdicts) {
  std::vector<client::Verdict> out;
  if (!verdicts) return out;
  for (const auto& v : *verdicts) out.push_back({v.guardrail, static_cast<int>(v.kind), v.reason});
  return out;
}

// Collects a request's answer on the loop thread and hands it to the waiting caller.
class AnswerSink : public ResponseSink {
 public:
  std::future<client::Result<client::Response>> expect(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_[id].get_future();
  }
  void onStart(uint64_t, const ResponseStartInfo&) override {}
  Flow onChunk(uint64_t, const ResponseChunkInfo&) override { return Flow::kOk; }
  void onEnd(uint64_t id, const ResponseEndInfo& e) override {
    std::promise<client::Result<client::Response>> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      done = std::move(it->second);
      pending_.erase(it);
    }
    if (e.code != Code::kOk) {
      client::Error err;
      err.code = static_cast<client::StatusCode>(static_cast<int>(e.code));
      err.retryable = e.retryable && !e.retries_spent;
      err.retry_after_ms = e.retry_after_ms;
      err.origin = std::string(e.origin);
      err.message = std::string(e.message);
      err.reached_provider = e.reached_provider;
      err.verdicts = clientVerdicts(e.verdicts);
      return done.set_value(err);
    }
    client::Response r;
    r.content = std::string(e.content);
    r.finish_reason = std::string(e.finish_reason);
    r.model = std::string(e.model);
    r.trace_id = std::string(e.trace_id);
    if (e.tool_calls) {
      for (const auto& t : *e.tool_calls) r.tool_calls.push_back({t.id, t.type, t.name, t.arguments});
    }
    r.usage.prompt_tokens = e.usage.prompt_tokens;
    r.usage.completion_tokens = e.usage.completion_tokens;
    r.cost_usd = e.cost_usd;
    r.cache_hit = e.cache_hit;
    r.refusal = e.refusal;
    r.verdicts = clientVerdicts(e.verdicts);
    done.set_value(std::move(r));
  }

 private:
  std::mutex mu_;
  std::unordered_map<uint64_t, std::promise<client::Result<client::Response>>> pending_;
};

std::unique_ptr<chain::CallInput> callInput(const client::ChatRequest& req) {
  auto in = std::make_unique<chain::CallInput>();
  in->model = req.model;
  for (const auto& m : req.messages) {
    chain::CallInput::Message msg{m.role, m.content, m.name, m.tool_call_id, {}};
    for (const auto& t : m.tool_calls) msg.tool_calls.push_back({t.id, t.type, t.name, t.arguments});
    in->messages.push_back(std::move(msg));
  }
  in->temperature = req.temperature;
  in->top_p = req.top_p;
  in->max_tokens = req.max_tokens;
  in->seed = req.seed;
  in->stop = req.stop;
  for (const auto& t : req.tools) in->tools.push_back({"function", t.name, t.description, t.parameters_json});
  in->tool_choice = req.tool_choice;
  if (req.response_format) {
    in->response_format = static_cast<int>(req.response_format->type);
    in->response_schema_name = req.response_format->schema_name;
    in->response_schema_json = req.response_format->schema_json;
    in->response_schema_strict = req.response_format->strict;
  }
  in->extra_json = req.extra_json;
  in->timeout_ms = static_cast<uint32_t>(req.timeout.count());
  if (req.metadata) {
    in->tenant = req.metadata->tenant;
    in->user = req.metadata->user;
    for (const auto& [k, v] : req.metadata->tags) in->tags.emplace_back(k, v);
  }
  return in;
}

}  // namespace

class InProcessBackend::Impl {
 public:
  explicit Impl(const config::Settings& s)
      : loop_(0),
        http_(loop_.loop(), {}),
        engine_(loop_, {s.server.default_timeout_ms, s.server.max_timeout_ms, s.server.slow_hook_warn_us, nullptr}, nullptr) {
    engine_.setHttpClient(&http_);
    // Before the loop closes its handles: the HTTP client's, then the plugins' timers and watches.
    loop_.setBeforeClose([this] {
      http_.shutdown();
      engine_.retireInstanceLoops();
    });
  }
  ~Impl() {
    loop_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void run(std::shared_ptr<chain::ChainSnapshot> snapshot) {
    snapshot_ = std::move(snapshot);
    engine_.setChain(snapshot_->workers[0]);
    thread_ = std::thread([this] { loop_.run(); });
  }
  client::Result<client::Response> chat(const client::ChatRequest& req, const CaseParams& params) {
    uint64_t id = next_id_.fetch_add(1);
    auto answer = sink_.expect(id);
    client::ChatRequest with = req;
    applyCaseParams(params, &with);
    std::shared_ptr<chain::CallInput> input = callInput(with);
    if (!loop_.post([this, input, id]() mutable {
          engine_.start(std::make_unique<chain::CallInput>(std::move(*input)), &sink_, id);
        })) {
      client::Error err;
      err.code = client::StatusCode::kUnavailable;
      err.message = "the in-process chain is stopping";
      return err;
    }
    return answer.get();
  }

 private:
  event::EventLoop loop_;
  http_client::HttpClient http_;
  chain::Engine engine_;
  AnswerSink sink_;
  std::shared_ptr<chain::ChainSnapshot> snapshot_;
  std::atomic<uint64_t> next_id_{1};
  std::thread thread_;
};

std::unique_ptr<InProcessBackend> InProcessBackend::start(const std::string& config_path, std::string* error) {
  auto settings = config_path.empty() ? config::loadDefaultConfig() : config::loadConfigFile(config_path);
  if (!settings.ok()) {
    *error = settings.status().message();
    return nullptr;
  }
  auto snapshot = chain::buildChain(settings.value(), 1, 1);
  if (!snapshot.ok()) {
    *error = snapshot.status().message();
    return nullptr;
  }
  auto impl = std::make_unique<Impl>(settings.value());
  impl->run(snapshot.value());
  return std::unique_ptr<InProcessBackend>(new InProcessBackend(std::move(impl)));
}

InProcessBackend::InProcessBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InProcessBackend::~InProcessBackend() = default;

client::Result<client::Response> InProcessBackend::chat(const client::ChatRequest& request, const CaseParams& params) {
  return impl_->chat(request, params);
}

}  // namespace outrigger::eval
