// provider.wordllama's model against its Python reference (make_golden.py): the token ids of
// Hugging Face `tokenizers` on every corpus text, and WordLlama's own normalised embeddings.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "support/daemon_process.h"
#include "safetensors_table.h"
#include "sentencepiece_model.h"
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
  REQUIRE(golden.size() == 3011);
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

namespace {

// A .safetensors file holding one tensor described by `header`, followed by `data_bytes` bytes.
std::string safetensorsFile(const std::string& header, size_t data_bytes) {
  static const std::string dir = outrigger::testing::makeTempDir();
  std::string path = dir + "/" + std::to_string(std::hash<std::string>()(header)) + ".safetensors";
  std::ofstream out(path, std::ios::binary);
  uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(data_bytes, '\0');
  return path;
}

}  // namespace

TEST_CASE("a weights file whose header lies about its tensor is refused, never read out of bounds") {
  using outrigger::wordllama::readF16Table;
  outrigger::wordllama::Table table;
  std::string error;
  SECTION("a well-formed table loads") {
    CHECK(readF16Table(safetensorsFile(R"({"w":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}})", 12), "w",
                       &table, &error));
    CHECK((table.rows == 2 && table.cols == 3 && table.values.size() == 6));
  }
  SECTION("the dtype is not a string") {
    CHECK_FALSE(readF16Table(safetensorsFile(R"({"w":{"dtype":5,"shape":[2,3],"data_offsets":[0,12]}})", 12), "w",
                             &table, &error));
  }
  SECTION("the shape or offsets are missing or not numbers") {
    CHECK_FALSE(readF16Table(safetensorsFile(R"({"w":{"dtype":"F16","data_offsets":[0,12]}})", 12), "w", &table, &error));
    CHECK_FALSE(readF16Table(safetensorsFile(R"({"w":{"dtype":"F16","shape":[2,"3"],"data_offsets":[0,12]}})", 12), "w",
                             &table, &error));
  }
  SECTION("offsets that wrap past the end of the file") {
    CHECK_FALSE(readF16Table(
        safetensorsFile(
            R"({"w":{"dtype":"F16","shape":[32000,256],"data_offsets":[18446744073693167480,18446744073709551480]}})", 64),
        "w", &table, &error));
  }
  SECTION("a shape whose byte count wraps to the offsets' span") {
    CHECK_FALSE(readF16Table(
        safetensorsFile(R"({"w":{"dtype":"F16","shape":[32000,72057594037927937],"data_offsets":[0,64000]}})", 64000),
        "w", &table, &error));
  }
  CHECK(table.values.size() <= 6);
}

TEST_CASE("a tokenizer description whose model type is not a string is refused") {
  rapidjson::Document doc;
  doc.Parse(R"({"model":{"type":1,"byte_fallback":true,"vocab":{}}})");
  std::string error;
  CHECK(outrigger::wordllama::sentencePieceModelFrom(doc, &error).empty());
  CHECK_FALSE(error.empty());
}
