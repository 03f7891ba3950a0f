// provider.onnx's model code against its Python references (make_golden.py): the token ids of
// Hugging Face `tokenizers` on every corpus text, and onnxruntime's mean-pooled embeddings,
// a text past the model's window included.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "sentence_encoder.h"

using namespace outrigger::onnx;

namespace {

EncoderOptions minilm() {
  EncoderOptions o;
  o.runtime_path = OUTRIGGER_MINILM_MODEL "/libonnxruntime.so.1.20.1";
  o.model_path = OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q.onnx";
  o.tokenizer_path = OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q-tokenizer.json";
  return o;
}

const SentenceEncoder& encoder() {
  static std::unique_ptr<SentenceEncoder> e = [] {
    std::string error;
    auto loaded = SentenceEncoder::load(minilm(), &error);
    INFO(error);
    REQUIRE(loaded);
    return loaded;
  }();
  return *e;
}

std::vector<rapidjson::Document> lines(const std::string& name) {
  std::vector<rapidjson::Document> out;
  std::ifstream in(std::string(ONNX_DATA) + "/" + name);
  for (std::string line; std::getline(in, line);) {
    out.emplace_back();
    out.back().Parse(line.c_str());
  }
  return out;
}

std::string text(const rapidjson::Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

}  // namespace

TEST_CASE("token ids equal the Hugging Face tokenizers library's on the whole corpus") {
  auto golden = lines("golden_ids.jsonl");
  REQUIRE(golden.size() > 1800);
  size_t equal = 0;
  for (const auto& g : golden) {
    std::vector<int64_t> ids, want;
    encoder().tokenizer().tokenize(text(g["text"]), &ids);
    for (const auto& id : g["ids"].GetArray()) want.push_back(id.GetInt64());
    if (ids == want) ++equal;
    else UNSCOPED_INFO("differs: " << text(g["text"]));
  }
  CHECK(equal == golden.size());
}

// onnxruntime's int8 matrix kernels round differently by CPU: AVX2's u8s8 path saturates where
// AVX-512 VNNI's does not, so on a CPU other than the references' a long text's vector can move by
// a few thousandths (cosine 0.9996 on an AVX2-only one). Most stay within 1e-4 on any.
TEST_CASE("embeddings equal onnxruntime's mean-pooled ones, within 1e-4 but for CPU rounding, a text past the window included") {
  auto golden = lines("golden_vectors.jsonl");
  REQUIRE(golden.size() > 30);
  REQUIRE(encoder().dims() == 384);
  REQUIRE(encoder().maxTokens() == 128);  // the tokenizer file's truncation length
  std::vector<float> v(encoder().dims());
  size_t past_window = 0, exact = 0;
  for (const auto& g : golden) {
    std::string error;
    size_t tokens = encoder().embed(text(g["text"]), v.data(), &error);
    INFO(text(g["text"]) << " " << error);
    REQUIRE(tokens > 0);
    past_window += tokens > encoder().maxTokens();
    double worst = 0, dot = 0, own = 0, theirs = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      const double want = g["vector"][rapidjson::SizeType(i)].GetDouble();
      worst = std::max(worst, std::abs(double(v[i]) - want));
      dot += double(v[i]) * want;
      own += double(v[i]) * v[i];
      theirs += want * want;
    }
    exact += worst < 1e-4;
    CHECK(worst < 1e-2);
    CHECK(dot / std::sqrt(own * theirs) > 0.999);
  }
  CHECK(exact * 10 >= golden.size() * 9);
  CHECK(past_window == 1);
}

TEST_CASE("a paraphrase is nearer than an unrelated question, and word order counts") {
  auto cosine = [](const std::string& a, const std::string& b) {
    std::vector<float> x(encoder().dims()), y(encoder().dims());
    std::string error;
    REQUIRE(encoder().embed(a, x.data(), &error) > 0);
    REQUIRE(encoder().embed(b, y.data(), &error) > 0);
    double dot = 0;
    for (size_t i = 0; i < x.size(); ++i) dot += double(x[i]) * y[i];
    return dot;
  };
  double paraphrase = cosine("How do I reset my password?", "How can I change my password?");
  double unrelated = cosine("How do I reset my password?", "What is the capital of France?");
  CHECK(paraphrase > 0.8);
  CHECK(unrelated < 0.3);
  CHECK(cosine("Is God capable of disproving science?", "Is science capable of disproving God?") < 0.999);
}

TEST_CASE("files that are not what the encoder needs are refused with the reason") {
  std::string error;
  EncoderOptions o = minilm();
  o.runtime_path = "/nonexistent/libonnxruntime.so";
  CHECK_FALSE(SentenceEncoder::load(o, &error));
  CHECK(error.find("cannot load ONNX Runtime") != std::string::npos);

  o = minilm();
  o.tokenizer_path = OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q.onnx";  // not JSON
  CHECK_FALSE(SentenceEncoder::load(o, &error));
  CHECK(error.find("is not a tokenizer.json") != std::string::npos);

  o = minilm();
  o.model_path = OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q-tokenizer.json";  // not a model
  CHECK_FALSE(SentenceEncoder::load(o, &error));
  CHECK(error.find("ONNX Runtime: ") != std::string::npos);

  o = minilm();
  o.max_tokens = 2;
  CHECK_FALSE(SentenceEncoder::load(o, &error));
  CHECK(error.find("max_tokens") != std::string::npos);

  o = minilm();
  o.max_tokens = 1024;  // past the model's 512 positions: every long text would fail later
  CHECK_FALSE(SentenceEncoder::load(o, &error));
  CHECK(error.find("does not run a window of max_tokens = 1024") != std::string::npos);
}

TEST_CASE("a tokenizer.json with steps this tokenizer does not implement is refused, not half-applied") {
  std::ifstream in(OUTRIGGER_MINILM_MODEL "/all-minilm-l6-v2-q-tokenizer.json");
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto refusal = [&](const std::string& from, const std::string& to) {
    std::string changed = original;
    size_t at = changed.find(from);
    REQUIRE(at != std::string::npos);
    changed.replace(at, from.size(), to);
    std::string path = (std::filesystem::temp_directory_path() /
                        ("outrigger-tokenizer-" + std::to_string(::getpid()) + "-" + std::to_string(std::hash<std::string>()(to)) + ".json"))
                           .string();
    std::ofstream(path) << changed;
    std::string error;
    bool loaded = WordPieceTokenizer::load(path, &error) != nullptr;
    std::remove(path.c_str());
    return loaded ? std::string("loaded") : error;
  };
  CHECK(refusal(R"("type": "BertPreTokenizer")", R"("type": "Whitespace")").find("BertPreTokenizer") != std::string::npos);
  CHECK(refusal(R"("type": "BertNormalizer")", R"("type": "NFC")").find("BertNormalizer") != std::string::npos);
  CHECK(refusal(R"("lstrip": false)", R"("lstrip": true)").find("sets lstrip") != std::string::npos);
  CHECK(refusal(R"("type": "TemplateProcessing")", R"("type": "RobertaProcessing")").find("post-processor") !=
        std::string::npos);
}
