#include "wordllama_model.h"

#include <cmath>
#include <fstream>
#include <iterator>

#include "bounded_json.h"
#include "safetensors_table.h"
#include "sentencepiece_model.h"

namespace outrigger::wordllama {

std::unique_ptr<WordLlamaModel> WordLlamaModel::load(const std::string& tokenizer_json_path,
                                                     const std::string& weights_path, std::string* error) {
  std::ifstream in(tokenizer_json_path, std::ios::binary);
  if (!in) return *error = "cannot open " + tokenizer_json_path, nullptr;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rapidjson::Document doc;
  if (!json::parse(text, &doc)) return *error = tokenizer_json_path + ": not JSON", nullptr;
  std::string proto = sentencePieceModelFrom(doc, error);
  if (proto.empty()) return *error = tokenizer_json_path + ": " + *error, nullptr;

  std::unique_ptr<WordLlamaModel> m(new WordLlamaModel());
  if (auto st = m->tokenizer_.LoadFromSerializedProto(proto); !st.ok())
    return *error = tokenizer_json_path + ": sentencepiece refused it: " + st.ToString(), nullptr;
  Table table;
  if (!readF16Table(weights_path, "embedding.weight", &table, error)) return nullptr;
  if (table.rows != size_t(m->tokenizer_.GetPieceSize()))
    return *error = weights_path + ": the table's rows do not match the tokenizer's vocabulary", nullptr;
  m->table_ = std::move(table.values);
  m->vocab_ = table.rows;
  m->dims_ = table.cols;
  return m;
}

// The reference tokenizer matches its three special tokens in the raw text and encodes the text
// between them as separate pieces, each with its own leading "▁"; SentencePiece never matches a
// control piece, so the split is done here.
bool WordLlamaModel::tokenize(std::string_view text, std::vector<int>* ids) const {
  static constexpr std::string_view kSpecial[] = {"<unk>", "<s>", "</s>"};  // ids 0, 1, 2
  ids->clear();
  std::vector<int> piece_ids;
  size_t segment = 0;
  auto encodeUpTo = [&](size_t end) {
    if (end == segment) return true;
    if (!tokenizer_.Encode(text.substr(segment, end - segment), &piece_ids).ok()) return false;
    ids->insert(ids->end(), piece_ids.begin(), piece_ids.end());
    return true;
  };
  for (size_t at = text.find('<'); at != std::string_view::npos; at = text.find('<', at + 1)) {
    for (int id = 0; id < 3; ++id) {
      if (text.substr(at, kSpecial[id].size()) != kSpecial[id]) continue;
      if (!encodeUpTo(at)) return false;
      ids->push_back(id);
      segment = at + kSpecial[id].size();
      at = segment - 1;
      break;
    }
  }
  return encodeUpTo(text.size());
}

size_t WordLlamaModel::embed(std::string_view text, float* out) const {
  std::vector<int> ids;
  for (size_t d = 0; d < dims_; ++d) out[d] = 0;
  if (!tokenize(text, &ids) || ids.empty()) return 0;
  for (int id : ids) {
    const float* row = &table_[size_t(id < 0 || size_t(id) >= vocab_ ? 0 : id) * dims_];
    for (size_t d = 0; d < dims_; ++d) out[d] += row[d];
  }
  double norm = 0;
  for (size_t d = 0; d < dims_; ++d) norm += double(out[d]) * out[d];
  // The mean's direction is the sum's: dividing by the count first changes nothing after
  // normalising.
  float scale = norm > 0 ? float(1.0 / std::sqrt(norm)) : 0.0f;
  for (size_t d = 0; d < dims_; ++d) out[d] *= scale;
  return ids.size();
}

}  // namespace outrigger::wordllama
