// provider.wordllama: embeddings computed in-process by WordLlama's static model (the files the
// PyPI `wordllama` wheel ships), for laptops, tests and air-gapped hosts. Chat is not offered:
// a route that asks it for a completion gets UNIMPLEMENTED. The model is loaded once and shared
// by every worker (it is read-only after load).
#include <outrigger/plugin.hpp>

#include <rapidjson/document.h>

#include <stdexcept>
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
  void cancel(outrigger_request) override {}  // every call completes before its hook returns

  // Bounded work (at most max_input_bytes per input, one table row added per token), so it runs
  // on the calling loop and completes before returning.
  outrigger_status embed(const outrigger_embed_request_view& req) override {
    outrigger_embeddings_view r{};
    r.hdr = OUTRIGGER_HEADER_INIT(outrigger_embeddings_view);
    r.model = str(model_name_);
    size_t dims = model_->dims();
    if ((req.dimensions && req.dimensions != dims) || (req.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_embed_request_view, flags) &&
                                                       (req.flags & OUTRIGGER_EMBED_TOKEN_IDS))) {
      r.code = OUTRIGGER_CODE_INVALID_ARGUMENT;
      r.message = str("provider.wordllama gives its own dimensions (256) of text inputs only");
      host().embeddingsDone(req.handle, r);
      return OUTRIGGER_PENDING;
    }
    std::vector<float> values(req.input_count * dims);
    std::vector<outrigger_embedding_view> vectors(req.input_count);
    for (size_t i = 0; i < req.input_count; ++i) {
      std::string_view text = view(req.inputs[i]);
      if (text.size() > max_input_bytes_) {
        r.code = OUTRIGGER_CODE_INVALID_ARGUMENT;
        r.message = str("an input is longer than max_input_bytes");
        host().embeddingsDone(req.handle, r);
        return OUTRIGGER_PENDING;
      }
      r.usage.prompt_tokens += uint32_t(model_->embed(text, &values[i * dims]));
      vectors[i] = {&values[i * dims], dims};
    }
    r.code = OUTRIGGER_CODE_OK;
    r.embeddings = vectors.data();
    r.embedding_count = vectors.size();
    host().embeddingsDone(req.handle, r);
    return OUTRIGGER_PENDING;
  }

 private:
  std::unique_ptr<WordLlamaModel> model_;
  std::string model_name_ = "wordllama-l2-supercat-256";
  size_t max_input_bytes_ = 65536;
};

}  // namespace

OUTRIGGER_PLUGIN("provider_wordllama", "1.0.0", outrigger::plugin::typeOf<WordLlamaProvider>())
