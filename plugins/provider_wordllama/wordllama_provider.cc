// provider.wordllama: embeddings computed in-process by WordLlama's static model (the files the
// PyPI `wordllama` wheel ships), for laptops, tests and air-gapped hosts. Chat is not offered:
// a route that asks it for a completion gets UNIMPLEMENTED. The model is loaded once and shared
// by every worker (it is read-only after load).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bounded_json.h"
#include "wordllama_model.h"

namespace {

using namespace outrigger::plugin;
using outrigger::wordllama::WordLlamaModel;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["tokenizer", "weights"],
  "properties": {
    "tokenizer": {"type": "string", "minLength": 1, "description": "the wheel's tokenizers/l2_supercat_tokenizer_config.json"},
    "weights": {"type": "string", "minLength": 1, "description": "the wheel's weights/l2_supercat_256.safetensors"},
    "model": {"type": "string", "description": "the model name answers carry (default wordllama-l2-supercat-256)"},
    "max_input_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576, "description": "longer inputs are refused (default 65536)"}
  }
})json";

class WordLlamaProvider final : public Provider {
 public:
  static constexpr const char* kName = "wordllama";
  static constexpr const char* kDescription = "Local static embeddings (WordLlama l2_supercat): tokenize, average token rows, normalise";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;
  static constexpr uint64_t kCapabilities = OUTRIGGER_CAP_SHARED_INSTANCE;

  WordLlamaProvider(Host host, std::string_view name, std::string_view config) : Provider(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    if (d.HasMember("model")) model_name_ = d["model"].GetString();
    if (d.HasMember("max_input_bytes")) max_input_bytes_ = d["max_input_bytes"].GetUint();
    std::string error;
    model_ = WordLlamaModel::load(d["tokenizer"].GetString(), d["weights"].GetString(), &error);
    if (!model_) throw std::runtime_error(error);
  }

  outrigger_status start(const outrigger_request_view& req) override {
    outrigger_response_view r = makeError(OUTRIGGER_CODE_UNIMPLEMENTED, "provider.wordllama only embeds");
    host().providerDone(req.handle, r);
    return OUTRIGGER_PENDING;
  }
  // A call in slices stops at its next slice: the request's post then reports it stale.
  void cancel(outrigger_request) override {}

  // Runs on the calling loop: microseconds for a query. A call of many inputs (the HTTP front
  // takes 2,048 of them, megabytes in all) is embedded a slice at a time, the loop taking its
  // other work between slices: whole, 4 MB held a worker for 0.7 s.
  outrigger_status embed(const outrigger_embed_request_view& req) override {
    size_t dims = model_->dims();
    if ((req.dimensions && req.dimensions != dims) || (req.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_embed_request_view, flags) &&
                                                       (req.flags & OUTRIGGER_EMBED_TOKEN_IDS))) {
      return refuse(req.handle, "provider.wordllama gives its own dimensions (256) of text inputs only");
    }
    auto job = std::make_shared<EmbedJob>();
    job->handle = req.handle;
    job->inputs.reserve(req.input_count);
    for (size_t i = 0; i < req.input_count; ++i) {
      std::string_view text = view(req.inputs[i]);
      if (text.size() > max_input_bytes_) return refuse(req.handle, "an input is longer than max_input_bytes");
      job->inputs.emplace_back(text);
    }
    job->values.resize(req.input_count * dims);
    run(job);
    return OUTRIGGER_PENDING;
  }

  static constexpr size_t kSliceBytes = 32768;  // about 5 ms of embedding per loop turn

 private:
  struct EmbedJob {
    outrigger_request handle{};
    std::vector<std::string> inputs;
    std::vector<float> values;
    size_t next = 0;
    uint32_t tokens = 0;
  };

  // Embeds the next slice; answers after the last, else comes back on the loop's next turn
  // (not at all when the request ended meanwhile: the post then reports it stale).
  void run(const std::shared_ptr<EmbedJob>& job) {
    const size_t dims = model_->dims();
    size_t slice = 0;
    while (job->next < job->inputs.size() && slice < kSliceBytes) {
      const std::string& text = job->inputs[job->next];
      job->tokens += uint32_t(model_->embed(text, &job->values[job->next * dims]));
      slice += text.size() + 1;
      ++job->next;
    }
    if (job->next < job->inputs.size()) {
      outrigger_status posted = host().post(job->handle, [this, job](outrigger_status status) {
        if (status == OUTRIGGER_OK) run(job);
      });
      // Not posted (the loop's queue full, or stopping): the callback never comes, so answer now.
      if (posted != OUTRIGGER_OK) refuse(job->handle, "cannot schedule the rest of the inputs", OUTRIGGER_CODE_UNAVAILABLE);
      return;
    }
    std::vector<outrigger_embedding_view> vectors(job->inputs.size());
    for (size_t i = 0; i < vectors.size(); ++i) vectors[i] = {&job->values[i * dims], dims};
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.model = str(model_name_);
    r.code = OUTRIGGER_CODE_OK;
    r.usage.prompt_tokens = job->tokens;
    r.embeddings = vectors.data();
    r.embedding_count = vectors.size();
    host().embeddingsDone(job->handle, r);
  }

  outrigger_status refuse(outrigger_request handle, const char* why,
                          outrigger_code code = OUTRIGGER_CODE_INVALID_ARGUMENT) {
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.model = str(model_name_);
    r.code = code;
    r.message = str(why);
    host().embeddingsDone(handle, r);
    return OUTRIGGER_PENDING;
  }

  std::unique_ptr<WordLlamaModel> model_;
  std::string model_name_ = "wordllama-l2-supercat-256";
  size_t max_input_bytes_ = 65536;
};

}  // namespace

OUTRIGGER_PLUGIN("provider_wordllama", "1.0.0", outrigger::plugin::typeOf<WordLlamaProvider>())
