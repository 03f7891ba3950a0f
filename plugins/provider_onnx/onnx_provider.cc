// provider.onnx: embeddings from a BERT-family sentence model run in-process by ONNX Runtime
// (all-MiniLM-L6-v2 from its Maven Central jar by default; fetch_minilm.sh). A transformer costs
// milliseconds of CPU per text, too long for a worker's loop, so embedding runs on the
// instance's own threads behind a bounded queue and the answer goes back to the request's loop
// through the host's `post`. Chat is not offered: a route that asks it for a completion gets
// UNIMPLEMENTED.
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bounded_json.h"
#include "sentence_encoder.h"

namespace {

using namespace outrigger::plugin;
using outrigger::onnx::EncoderOptions;
using outrigger::onnx::Pooling;
using outrigger::onnx::SentenceEncoder;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["runtime", "model", "tokenizer"],
  "properties": {
    "runtime": {"type": "string", "minLength": 1, "description": "ONNX Runtime's shared library (libonnxruntime.so, C API version 20 or later)"},
    "model": {"type": "string", "minLength": 1, "description": "the sentence model's .onnx file (a BERT encoder: input_ids, attention_mask, token_type_ids in; the last hidden state out)"},
    "tokenizer": {"type": "string", "minLength": 1, "description": "its tokenizer.json (WordPiece with a BertNormalizer)"},
    "model_name": {"type": "string", "description": "the model name answers carry (default all-minilm-l6-v2)"},
    "pooling": {"enum": ["mean", "cls"], "description": "how token rows become one vector (default mean)"},
    "max_tokens": {"type": "integer", "minimum": 3, "maximum": 8192, "description": "the model's window, [CLS] and [SEP] included; longer texts are embedded window by window and averaged (default: the tokenizer file's truncation length, else 256)"},
    "threads": {"type": "integer", "minimum": 1, "maximum": 64, "description": "threads that run the model (default 1)"},
    "queue_capacity": {"type": "integer", "minimum": 1, "maximum": 65536, "description": "embed requests waiting for a thread; beyond it they fail with RESOURCE_EXHAUSTED (default 256)"},
    "max_input_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576, "description": "longer inputs are refused (default 65536)"}
  }
})json";

// One embed request on its way through the queue. Shared by the loop that took it, the thread
// that runs it and the completion posted back.
struct Job {
  outrigger_request handle{};
  std::vector<std::string> inputs;
  std::atomic<bool> cancelled{false};  // set on the request's loop; the thread skips a cancelled job
  std::vector<float> values;           // inputs x dims, when done
  size_t next = 0;                     // the first input not embedded yet
  SentenceEncoder::Progress progress;  // of input `next`, a window at a time
  uint32_t tokens = 0;
  std::string error;  // set: the model failed on an input
};

class OnnxProvider final : public Provider {
 public:
  static constexpr const char* kName = "onnx";
  static constexpr const char* kDescription = "Local sentence embeddings with ONNX Runtime (a BERT encoder, mean or CLS pooling)";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  OnnxProvider(Host host, std::string_view name, std::string_view config) : Provider(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    EncoderOptions options;
    options.runtime_path = d["runtime"].GetString();
    options.model_path = d["model"].GetString();
    options.tokenizer_path = d["tokenizer"].GetString();
    if (d.HasMember("pooling") && std::string_view(d["pooling"].GetString()) == "cls") options.pooling = Pooling::kCls;
    if (d.HasMember("max_tokens")) options.max_tokens = d["max_tokens"].GetUint();
    if (d.HasMember("model_name")) model_name_ = d["model_name"].GetString();
    if (d.HasMember("queue_capacity")) queue_capacity_ = d["queue_capacity"].GetUint();
    if (d.HasMember("max_input_bytes")) max_input_bytes_ = d["max_input_bytes"].GetUint();
    size_t threads = d.HasMember("threads") ? d["threads"].GetUint() : 1;
    std::string error;
    encoder_ = SentenceEncoder::load(options, &error);
    if (!encoder_) throw std::runtime_error(error);
    try {
      for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { runJobs(); });
    } catch (...) {  // a thread the system would not start: stop the others before unwinding
      stop();
      throw;
    }
  }

  // Joins the model threads. A running job was cancelled with its request (an instance is
  // destroyed only when no request uses it) and stops at its next window.
  ~OnnxProvider() override { stop(); }

  outrigger_status start(const outrigger_request_view& req) override {
    outrigger_response_view r = makeError(OUTRIGGER_CODE_UNIMPLEMENTED, "provider.onnx only embeds");
    host().providerDone(req.handle, r);
    return OUTRIGGER_PENDING;
  }

  void cancel(outrigger_request handle) override {
    std::lock_guard<std::mutex> lock(jobs_->mu);
    auto it = jobs_->live.find(key(handle));
    if (it == jobs_->live.end()) return;
    std::shared_ptr<Job> job = std::move(it->second);
    jobs_->live.erase(it);
    job->cancelled.store(true, std::memory_order_relaxed);
    // Still queued: its slot is free again at once, not when a thread reaches it.
    auto queued = std::find(jobs_->queue.begin(), jobs_->queue.end(), job);
    if (queued != jobs_->queue.end()) jobs_->queue.erase(queued);
  }

  outrigger_status embed(const outrigger_embed_request_view& req) override {
    try {
      return enqueue(req);
    } catch (const std::bad_alloc&) {  // not a reason to disable the instance for every worker
      return refuse(req.handle, OUTRIGGER_CODE_RESOURCE_EXHAUSTED, true, "provider.onnx: out of memory");
    }
  }

  void reportMetrics(const MetricsWriter& w) override {
    size_t queued;
    {
      std::lock_guard<std::mutex> lock(jobs_->mu);
      queued = jobs_->queue.size();
    }
    w.gauge("onnx_embed_queue_depth", "Embed requests waiting for a model thread", {}, double(queued));
    w.counter("onnx_embed_texts_total", "Texts the model embedded", {}, double(texts_.load()));
    w.counter("onnx_embed_queue_full_total", "Embed requests refused because the queue was full", {}, double(refused_full_.load()));
    w.counter("onnx_embed_post_failures_total", "Finished embeddings that could not be posted back to their loop (the request's deadline ends it)",
              {}, double(post_failures_.load()));
  }

 private:
  static uint64_t key(outrigger_request h) { return (uint64_t{h.slot} << 32) | h.generation; }

  outrigger_status enqueue(const outrigger_embed_request_view& req) {
    if (req.dimensions && req.dimensions != encoder_->dims()) {
      return refuse(req.handle, OUTRIGGER_CODE_INVALID_ARGUMENT, false, "provider.onnx gives its model's own dimensions (" +
                                                                          std::to_string(encoder_->dims()) + ")");
    }
    auto job = std::make_shared<Job>();
    job->handle = req.handle;
    for (size_t i = 0; i < req.input_count; ++i) {
      std::string_view text = view(req.inputs[i]);
      if (text.size() > max_input_bytes_) return refuse(req.handle, OUTRIGGER_CODE_INVALID_ARGUMENT, false, "an input is longer than max_input_bytes");
      job->inputs.emplace_back(text);
    }
    {
      std::lock_guard<std::mutex> lock(jobs_->mu);
      if (jobs_->queue.size() >= queue_capacity_) {
        refused_full_.fetch_add(1, std::memory_order_relaxed);
      } else {
        jobs_->live[key(req.handle)] = job;
        try {
          jobs_->queue.push_back(job);
        } catch (...) {  // both or neither: a job in one alone would be answered twice or never
          jobs_->live.erase(key(req.handle));
          throw;
        }
        job = nullptr;
      }
    }
    if (job) return refuse(req.handle, OUTRIGGER_CODE_RESOURCE_EXHAUSTED, true, "provider.onnx: its queue is full");
    jobs_->wake.notify_one();
    return OUTRIGGER_PENDING;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(jobs_->mu);
      jobs_->stopping = true;
    }
    jobs_->wake.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  outrigger_status refuse(outrigger_request handle, outrigger_code code, bool retryable, const std::string& message) {
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.code = code;
    r.retryable = retryable;
    r.message = str(message);
    host().embeddingsDone(handle, r);
    return OUTRIGGER_PENDING;
  }

  // A model thread: takes jobs until the instance stops, embeds each input, posts the answer.
  void runJobs() {
    const size_t dims = encoder_->dims();
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(jobs_->mu);
        jobs_->wake.wait(lock, [this] { return jobs_->stopping || !jobs_->queue.empty(); });
        if (jobs_->stopping) return;
        job = std::move(jobs_->queue.front());
        jobs_->queue.pop_front();
      }
      if (job->cancelled.load(std::memory_order_relaxed)) continue;
      // One window a turn: a call of many or long inputs goes to the back of the queue after
      // each, so a short call queued behind it (a semantic cache's lookup) waits for one window
      // (about 128 tokens), not for a 64 KiB input's hundreds of them.
      try {
        if (job->values.empty()) job->values.assign(job->inputs.size() * dims, 0.0f);
        const size_t i = job->next;
        size_t tokens = 0;
        if (encoder_->embedSome(job->inputs[i], &job->progress, 1, &job->values[i * dims], &tokens, &job->error)) {
          job->tokens += uint32_t(tokens);
          job->progress = {};
          ++job->next;
          texts_.fetch_add(1, std::memory_order_relaxed);
        }
      } catch (const std::bad_alloc&) {  // answered as a failure: an exception here would end the process
        job->error = "provider.onnx: out of memory";
      }
      if (job->cancelled.load(std::memory_order_relaxed)) continue;  // nobody waits for it
      if (job->error.empty() && job->next < job->inputs.size()) {
        {
          std::lock_guard<std::mutex> lock(jobs_->mu);
          // cancel() marks a job under this lock: one it cancelled since is not queued again.
          if (!job->cancelled.load(std::memory_order_relaxed)) jobs_->queue.push_back(std::move(job));
        }
        jobs_->wake.notify_one();  // another thread may be idle while this one takes the front
        continue;
      }
      postAnswer(job, dims);
    }
  }

  // Hands the answer to the request's loop. The loop's queue may be full for a moment: try
  // again for up to a second while the request still waits, then count it and give up (its
  // deadline ends the request).
  void postAnswer(const std::shared_ptr<Job>& job, size_t dims) {
    Host h = host();
    for (int attempt = 0; attempt < 100 && !job->cancelled.load(std::memory_order_relaxed); ++attempt) {
      try {
        // The completion holds what it uses: an ended request's may run after the instance is gone.
        outrigger_status st = h.post(job->handle, [jobs = jobs_, job, h, dims, model = model_name_](outrigger_status s) {
          {
            std::lock_guard<std::mutex> lock(jobs->mu);
            auto it = jobs->live.find(key(job->handle));
            if (it != jobs->live.end() && it->second == job) jobs->live.erase(it);
          }
          if (s != OUTRIGGER_OK || job->cancelled.load(std::memory_order_relaxed)) return;
          finish(h, *job, dims, model);
        });
        if (st == OUTRIGGER_OK) return;
        if (st != OUTRIGGER_E_NOMEM) break;  // the request is gone or the handle is not one
      } catch (const std::bad_alloc&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (job->cancelled.load(std::memory_order_relaxed)) return;
    if (post_failures_.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
      h.log(OUTRIGGER_LOG_WARN, "an embedding could not be posted back to its loop; its deadline will end the request");
    }
  }

  // On the request's loop: the answer, or the model's failure.
  static void finish(Host h, const Job& job, size_t dims, const std::string& model) {
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    if (!job.error.empty()) {
      r.code = OUTRIGGER_CODE_INTERNAL;
      r.message = str(job.error);
      h.embeddingsDone(job.handle, r);
      return;
    }
    std::vector<outrigger_embedding_view> vectors(job.inputs.size());
    for (size_t i = 0; i < vectors.size(); ++i) vectors[i] = {&job.values[i * dims], dims};
    r.code = OUTRIGGER_CODE_OK;
    r.embeddings = vectors.data();
    r.embedding_count = vectors.size();
    r.usage.prompt_tokens = job.tokens;
    r.model = str(model);
    h.embeddingsDone(job.handle, r);
  }

  std::unique_ptr<SentenceEncoder> encoder_;
  std::string model_name_ = "all-minilm-l6-v2";
  size_t queue_capacity_ = 256;
  size_t max_input_bytes_ = 65536;

  // The queue, and every job queued or running by request (for cancel), under one lock. Shared
  // with the completions posted back, which may run after the instance is gone.
  struct Jobs {
    std::mutex mu;
    std::condition_variable wake;
    std::deque<std::shared_ptr<Job>> queue;
    std::unordered_map<uint64_t, std::shared_ptr<Job>> live;  // until its answer is given or it is cancelled
    bool stopping = false;
  };
  std::shared_ptr<Jobs> jobs_ = std::make_shared<Jobs>();
  std::vector<std::thread> threads_;

  std::atomic<uint64_t> texts_{0}, refused_full_{0}, post_failures_{0};
};

}  // namespace

OUTRIGGER_PLUGIN("provider_onnx", "1.0.0", outrigger::plugin::typeOf<OnnxProvider>())
