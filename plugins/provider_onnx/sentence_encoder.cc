#include "sentence_encoder.h"

#include <dlfcn.h>
#include <onnxruntime_c_api.h>

#include <algorithm>
#include <cmath>

namespace outrigger::onnx {

struct SentenceEncoder::Runtime {
  void* library = nullptr;
  const OrtApi* api = nullptr;
  OrtEnv* env = nullptr;
  OrtSessionOptions* options = nullptr;
  OrtSession* session = nullptr;
  OrtMemoryInfo* memory = nullptr;
  bool token_type_ids = false;  // whether the model takes them (BERT does; some distillations do not)
  std::string output;

  ~Runtime() {
    if (api) {
      if (memory) api->ReleaseMemoryInfo(memory);
      if (session) api->ReleaseSession(session);
      if (options) api->ReleaseSessionOptions(options);
      if (env) api->ReleaseEnv(env);
    }
    // The library stays loaded: ONNX Runtime keeps process-wide state (its logging manager,
    // thread-locals) that unloading under a live thread would leave dangling.
  }
  // True when `status` is success; otherwise its message goes to *error and it is released.
  bool ok(OrtStatus* status, std::string* error) const {
    if (!status) return true;
    *error = std::string("ONNX Runtime: ") + api->GetErrorMessage(status);
    api->ReleaseStatus(status);
    return false;
  }
};

SentenceEncoder::~SentenceEncoder() = default;

std::unique_ptr<SentenceEncoder> SentenceEncoder::load(const EncoderOptions& options, std::string* error) {
  std::unique_ptr<SentenceEncoder> e(new SentenceEncoder());
  e->tokenizer_ = WordPieceTokenizer::load(options.tokenizer_path, error);
  if (!e->tokenizer_) return nullptr;
  e->pooling_ = options.pooling;
  e->max_tokens_ = options.max_tokens ? options.max_tokens : e->tokenizer_->maxLength() ? e->tokenizer_->maxLength() : 256;
  if (e->max_tokens_ < 3) {
    *error = "max_tokens must leave room for a token between [CLS] and [SEP]";
    return nullptr;
  }

  auto rt = std::make_unique<Runtime>();
  rt->library = dlopen(options.runtime_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!rt->library) {
    *error = "cannot load ONNX Runtime: " + std::string(dlerror());
    return nullptr;
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto get_api_base = reinterpret_cast<GetApiBase>(dlsym(rt->library, "OrtGetApiBase"));
  const OrtApiBase* base = get_api_base ? get_api_base() : nullptr;
  rt->api = base ? base->GetApi(ORT_API_VERSION) : nullptr;
  if (!rt->api) {
    *error = options.runtime_path + " is not an ONNX Runtime offering C API version " + std::to_string(ORT_API_VERSION) +
             (base ? std::string(" (it is ") + base->GetVersionString() + ")" : std::string());
    return nullptr;
  }
  const OrtApi* api = rt->api;
  if (!rt->ok(api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "outrigger", &rt->env), error) ||
      !rt->ok(api->CreateSessionOptions(&rt->options), error) ||
      !rt->ok(api->SetIntraOpNumThreads(rt->options, 1), error) ||
      !rt->ok(api->SetInterOpNumThreads(rt->options, 1), error) ||
      !rt->ok(api->SetSessionGraphOptimizationLevel(rt->options, ORT_ENABLE_ALL), error) ||
      !rt->ok(api->CreateSession(rt->env, options.model_path.c_str(), rt->options, &rt->session), error) ||
      !rt->ok(api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &rt->memory), error)) {
    return nullptr;
  }

  OrtAllocator* allocator = nullptr;
  if (!rt->ok(api->GetAllocatorWithDefaultOptions(&allocator), error)) return nullptr;
  size_t inputs = 0, outputs = 0;
  if (!rt->ok(api->SessionGetInputCount(rt->session, &inputs), error) ||
      !rt->ok(api->SessionGetOutputCount(rt->session, &outputs), error)) {
    return nullptr;
  }
  bool ids = false, mask = false;
  for (size_t i = 0; i < inputs; ++i) {
    char* name = nullptr;
    if (!rt->ok(api->SessionGetInputName(rt->session, i, allocator, &name), error)) return nullptr;
    std::string_view n(name);
    ids |= n == "input_ids";
    mask |= n == "attention_mask";
    rt->token_type_ids |= n == "token_type_ids";
    bool known = n == "input_ids" || n == "attention_mask" || n == "token_type_ids";
    std::string unknown = known ? std::string() : std::string(n);
    std::string ignored;
    rt->ok(api->AllocatorFree(allocator, name), &ignored);
    if (!unknown.empty()) {
      *error = options.model_path + " takes an input a BERT encoder does not: " + unknown;
      return nullptr;
    }
  }
  if (!ids || !mask || outputs < 1) {
    *error = options.model_path + " is not a BERT encoder (input_ids and attention_mask in, a hidden state out)";
    return nullptr;
  }
  char* output = nullptr;
  if (!rt->ok(api->SessionGetOutputName(rt->session, 0, allocator, &output), error)) return nullptr;
  rt->output = output;
  std::string ignored;
  rt->ok(api->AllocatorFree(allocator, output), &ignored);
  e->runtime_ = std::move(rt);

  // One run of a whole window learns the width, and shows the model runs at all and takes
  // max_tokens positions (past its position table every long text would fail at run time).
  std::vector<int64_t> window(e->max_tokens_, e->tokenizer_->sepId());
  window[0] = e->tokenizer_->clsId();
  std::vector<double> probe;
  if (!e->runWindow(window, &probe, error)) {
    *error = "the model does not run a window of max_tokens = " + std::to_string(e->max_tokens_) + ": " + *error;
    return nullptr;
  }
  e->dims_ = probe.size();
  return e;
}

bool SentenceEncoder::runWindow(const std::vector<int64_t>& ids, std::vector<double>* sum, std::string* error) const {
  const Runtime& rt = *runtime_;
  const OrtApi* api = rt.api;
  std::vector<int64_t> mask(ids.size(), 1), types(ids.size(), 0);
  const int64_t shape[2] = {1, int64_t(ids.size())};
  OrtValue* in[3] = {nullptr, nullptr, nullptr};
  const char* names[3] = {"input_ids", "attention_mask", "token_type_ids"};
  int64_t* data[3] = {const_cast<int64_t*>(ids.data()), mask.data(), types.data()};
  size_t count = rt.token_type_ids ? 3 : 2;
  bool good = true;
  for (size_t i = 0; i < count && good; ++i) {
    good = rt.ok(api->CreateTensorWithDataAsOrtValue(rt.memory, data[i], ids.size() * sizeof(int64_t), shape, 2,
                                                     ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, &in[i]),
                 error);
  }
  OrtValue* out = nullptr;
  const char* output = rt.output.c_str();
  if (good) good = rt.ok(api->Run(rt.session, nullptr, names, in, count, &output, 1, &out), error);
  OrtTensorTypeAndShapeInfo* info = nullptr;
  float* hidden = nullptr;
  int64_t dims[3] = {0, 0, 0};
  size_t rank = 0;
  if (good) good = rt.ok(api->GetTensorTypeAndShape(out, &info), error);
  if (good) good = rt.ok(api->GetDimensionsCount(info, &rank), error);
  if (good && rank != 3) {
    *error = "the model's output is not [batch, tokens, hidden]";
    good = false;
  }
  ONNXTensorElementDataType element = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  if (good) good = rt.ok(api->GetTensorElementType(info, &element), error);
  if (good && element != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    *error = "the model's output is not float32";
    good = false;
  }
  if (good) good = rt.ok(api->GetDimensions(info, dims, 3), error);
  if (good && (dims[0] != 1 || dims[1] != int64_t(ids.size()) || dims[2] <= 0)) {
    *error = "the model's output does not have one row per token";
    good = false;
  }
  if (good) good = rt.ok(api->GetTensorMutableData(out, reinterpret_cast<void**>(&hidden)), error);
  if (good) {
    size_t width = size_t(dims[2]), tokens = ids.size();
    if (sum->empty()) sum->assign(width, 0.0);
    if (sum->size() != width) {
      *error = "the model's hidden width changed between runs";
      good = false;
    } else if (pooling_ == Pooling::kCls) {
      for (size_t j = 0; j < width; ++j) (*sum)[j] += double(hidden[j]) * double(tokens);
    } else {
      for (size_t t = 0; t < tokens; ++t) {
        for (size_t j = 0; j < width; ++j) (*sum)[j] += hidden[t * width + j];
      }
    }
  }
  if (info) api->ReleaseTensorTypeAndShapeInfo(info);
  if (out) api->ReleaseValue(out);
  for (OrtValue* v : in) {
    if (v) api->ReleaseValue(v);
  }
  return good;
}

size_t SentenceEncoder::embed(std::string_view text, float* out, std::string* error, const std::atomic<bool>* stop) const {
  Progress progress;
  size_t tokens = 0;
  for (;;) {
    if (stop && stop->load(std::memory_order_relaxed)) {
      *error = "cancelled";
      return 0;
    }
    if (embedSome(text, &progress, 1, out, &tokens, error)) return tokens;
    if (!error->empty()) return 0;
  }
}

bool SentenceEncoder::embedSome(std::string_view text, Progress* p, size_t windows, float* out, size_t* tokens,
                                std::string* error) const {
  if (!p->started) {
    tokenizer_->tokenize(text, &p->ids);
    p->started = true;
  }
  const size_t per_window = max_tokens_ - 2;
  std::vector<int64_t> window;
  for (; windows > 0 && (p->next == 0 || p->next < p->ids.size()); --windows) {
    size_t end = std::min(p->ids.size(), p->next + per_window);
    window.assign(1, tokenizer_->clsId());
    window.insert(window.end(), p->ids.begin() + ptrdiff_t(p->next), p->ids.begin() + ptrdiff_t(end));
    window.push_back(tokenizer_->sepId());
    if (!runWindow(window, &p->sum, error)) return false;
    p->read += window.size();
    p->next = std::max(end, p->next + 1);  // an empty text is one window of [CLS] [SEP]
  }
  if (p->next < p->ids.size()) return false;
  // Each window added the sum of its rows (mean pooling) or its [CLS] row times its length, so
  // the total is already weighted by token count; its direction is the embedding.
  double norm = 0;
  for (double v : p->sum) norm += v * v;
  norm = std::sqrt(norm);
  for (size_t j = 0; j < dims_; ++j) out[j] = norm > 0 ? float(p->sum[j] / norm) : 0.0f;
  *tokens = p->read;
  return true;
}

}  // namespace outrigger::onnx
