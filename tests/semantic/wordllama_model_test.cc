// provider.wordllama's model against its Python reference (make_golden.py): the token ids of
// Hugging Face `tokenizers` on every corpus text, and WordLlama's own normalised embeddings.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "wordllama_model.h"

using outrigger::wordllama::WordLlamaModel;

namespace {

const WordLlamaModel& model() {
  static std::unique_ptr<WordLlamaModel> m = [] {
    std::string error;
    auto loaded = WordLlamaModel::load(OUTRIGGER_WORDLLAMA_MODEL "/l2_supercat_tokenizer_config.json",
                                       OUTRIGGER_WORDLLAMA_MODEL "/l2_supercat_256.safetensors", &error);
    INFO(error);
    REQUIRE(loaded);
    return loaded;
  }();
  return *m;
}

std::vector<rapidjson::Document> lines(const std::string& name) {
  std::vector<rapidjson::Document> out;
  std::ifstream in(std::string(SEMANTIC_DATA) + "/" + name);
  for (std::string line; std::getline(in, line);) {
    out.emplace_back();
    out.back().Parse(line.c_str());
  }
  return out;
}

}  // namespace

TEST_CASE("token ids equal the Hugging Face tokenizers library's on the whole corpus") {
  auto golden = lines("golden_token_ids.jsonl");
  REQUIRE(golden.size() == 3000);
  size_t equal = 0;
  std::vector<int> ids;
  for (const auto& g : golden) {
    REQUIRE(model().tokenize(g["text"].GetString(), &ids));
    std::vector<int> want;
    for (const auto& id : g["ids"].GetArray()) want.push_back(id.GetInt());
    if (ids == want) ++equal;
    else UNSCOPED_INFO("differs: " << g["text"].GetString());
  }
  CHECK(equal == golden.size());
}

TEST_CASE("embeddings equal WordLlama's normalised embed within 1e-3") {
  auto golden = lines("golden_embeddings.jsonl");
  REQUIRE(golden.size() > 60);
  std::vector<float> v(model().dims());
  REQUIRE(v.size() == 256);
  double worst = 0;
  for (const auto& g : golden) {
    model().embed(g["text"].GetString(), v.data());
    const auto& want = g["vector"].GetArray();
    REQUIRE(want.Size() == v.size());
    for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::fabs(double(v[i]) - want[i].GetDouble()));
  }
  CHECK(worst < 1e-3);
}

TEST_CASE("an empty text has no tokens and a zero vector, never NaN") {
  std::vector<float> v(model().dims(), 1.0f);
  CHECK(model().embed("", v.data()) == 0);
  for (float x : v) CHECK(x == 0.0f);
}

TEST_CASE("a paraphrase is closer than a question about something else") {
  std::vector<float> a(256), b(256), c(256);
  model().embed("How do I reset my password?", a.data());
  model().embed("How can I reset my password?", b.data());
  model().embed("What is the capital of Peru?", c.data());
  double ab = 0, ac = 0;
  for (size_t i = 0; i < 256; ++i) {
    ab += a[i] * b[i];
    ac += a[i] * c[i];
  }
  CHECK(ab > 0.95);
  CHECK(ac < ab - 0.2);
}
