#include "sentencepiece_model.h"

#include <cstdint>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace outrigger::wordllama {
namespace {

// The few protobuf wire forms a ModelProto needs (varint, 32-bit, length-delimited). Field
// numbers are sentencepiece_model.proto's: ModelProto{pieces=1, trainer_spec=2,
// normalizer_spec=3}, SentencePiece{piece=1, score=2, type=3}, TrainerSpec{model_type=3,
// vocab_size=4, byte_fallback=35}, NormalizerSpec{name=1, add_dummy_prefix=3,
// remove_extra_whitespaces=4, escape_whitespaces=5}.
void varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(char(v | 0x80));
    v >>= 7;
  }
  out->push_back(char(v));
}
void tag(std::string* out, uint32_t field, uint32_t wire) { varint(out, (uint64_t(field) << 3) | wire); }
void intField(std::string* out, uint32_t field, uint64_t v) {
  tag(out, field, 0);
  varint(out, v);
}
void bytesField(std::string* out, uint32_t field, std::string_view v) {
  tag(out, field, 2);
  varint(out, v.size());
  out->append(v);
}
void floatField(std::string* out, uint32_t field, float v) {
  tag(out, field, 5);
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian on every target the daemon builds for
  out->append(b, 4);
}

enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };
enum ModelType { kBpe = 2 };

bool isBytePiece(std::string_view p) { return p.size() == 6 && p.substr(0, 3) == "<0x" && p.back() == '>'; }

std::string piece(std::string_view text, float score, PieceType type) {
  std::string m;
  bytesField(&m, 1, text);
  floatField(&m, 2, score);
  if (type != kNormal) intField(&m, 3, type);
  return m;
}

// SentencePiece merges the adjacent pair whose joined piece scores highest; `tokenizers` merges
// the pair with the lowest rank in its merge list. So a piece scores minus the rank of the first
// merge that makes it. (The list is not in vocabulary order: the merges of whitespace runs such
// as "▁▁" come last.) A piece no merge makes keeps the lowest scores, in vocabulary order.
std::vector<float> mergeScores(const rapidjson::Value& model, const std::vector<std::string_view>& by_id) {
  size_t n = by_id.size();
  std::unordered_map<std::string_view, size_t> id_of;  // RapidJSON's FindMember is a linear scan
  for (size_t id = 0; id < n; ++id) id_of.emplace(by_id[id], id);
  std::vector<float> scores(n);
  for (size_t id = 0; id < n; ++id) scores[id] = -float(1000000 + id);  // below every merge rank, exact in float
  if (!model.HasMember("merges") || !model["merges"].IsArray()) return scores;
  const auto& merges = model["merges"];
  for (rapidjson::SizeType rank = merges.Size(); rank-- > 0;) {
    const auto& m = merges[rank];
    std::string joined;
    if (m.IsString()) {
      std::string_view s(m.GetString(), m.GetStringLength());
      size_t space = s.find(' ');
      if (space == std::string_view::npos) continue;
      joined = std::string(s.substr(0, space)) + std::string(s.substr(space + 1));
    } else if (m.IsArray() && m.Size() == 2 && m[0].IsString() && m[1].IsString()) {
      joined = std::string(m[0].GetString()) + m[1].GetString();
    } else {
      continue;
    }
    if (auto it = id_of.find(joined); it != id_of.end()) scores[it->second] = -float(rank);
  }
  return scores;
}

}  // namespace

std::string sentencePieceModelFrom(const rapidjson::Document& doc, std::string* error) {
  if (!doc.IsObject() || !doc.HasMember("model") || !doc["model"].IsObject()) {
    *error = "no \"model\" object";
    return {};
  }
  const auto& model = doc["model"];
  if (!model.HasMember("type") || !model["type"].IsString() || std::string_view(model["type"].GetString()) != "BPE" ||
      !model.HasMember("byte_fallback") || !model["byte_fallback"].IsTrue() || !model.HasMember("vocab") ||
      !model["vocab"].IsObject()) {
    *error = "the model is not a byte-fallback BPE vocabulary";
    return {};
  }
  const auto& vocab = model["vocab"];
  std::vector<std::string_view> by_id(vocab.MemberCount());
  for (auto it = vocab.MemberBegin(); it != vocab.MemberEnd(); ++it) {
    if (!it->value.IsUint() || it->value.GetUint() >= by_id.size() || !by_id[it->value.GetUint()].empty()) {
      *error = "vocabulary ids are not 0..n-1, each once";
      return {};
    }
    by_id[it->value.GetUint()] = {it->name.GetString(), it->name.GetStringLength()};
  }
  if (by_id.size() < 259 || by_id[0] != "<unk>" || by_id[1] != "<s>" || by_id[2] != "</s>") {
    *error = "expected <unk>, <s>, </s> at ids 0, 1, 2";
    return {};
  }
  std::vector<float> scores = mergeScores(model, by_id);
  std::string out;
  for (size_t id = 0; id < by_id.size(); ++id) {
    PieceType type = id == 0 ? kUnknown : id < 3 ? kControl : isBytePiece(by_id[id]) ? kByte : kNormal;
    float score = type == kNormal ? scores[id] : 0.0f;
    bytesField(&out, 1, piece(by_id[id], score, type));
  }
  std::string trainer;
  intField(&trainer, 3, kBpe);
  intField(&trainer, 4, by_id.size());
  intField(&trainer, 35, 1);
  bytesField(&out, 2, trainer);
  std::string normalizer;
  bytesField(&normalizer, 1, "identity");
  intField(&normalizer, 3, 1);
  intField(&normalizer, 4, 0);
  intField(&normalizer, 5, 1);
  bytesField(&out, 3, normalizer);
  return out;
}

}  // namespace outrigger::wordllama
