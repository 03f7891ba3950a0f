#include "wordpiece_tokenizer.h"

#include <rapidjson/document.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "bounded_json.h"

namespace outrigger::onnx {
namespace {

// tokenizers' is_control: the "other" categories but unassigned, tab, LF and CR excepted.
bool isControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  int8_t type = u_charType(UChar32(c));
  return type == U_CONTROL_CHAR || type == U_FORMAT_CHAR || type == U_SURROGATE || type == U_PRIVATE_USE_CHAR;
}

bool isWhitespace(char32_t c) { return c == '\t' || c == '\n' || c == '\r' || u_isUWhiteSpace(UChar32(c)); }

// The CJK Unified Ideographs blocks, as tokenizers' BertNormalizer lists them.
bool isChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// tokenizers' is_bert_punc: ASCII punctuation (symbols included) or a Unicode punctuation category.
bool isPunctuation(char32_t c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  switch (u_charType(UChar32(c))) {
    case U_CONNECTOR_PUNCTUATION:
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

std::u16string toUtf16(const std::u32string& s) {
  std::u16string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c > 0xFFFF) {
      out.push_back(char16_t(U16_LEAD(c)));
      out.push_back(char16_t(U16_TRAIL(c)));
    } else {
      out.push_back(char16_t(c));
    }
  }
  return out;
}

std::u32string toUtf32(const char16_t* s, int32_t n) {
  std::u32string out;
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s, i, n, c);
    out.push_back(char32_t(c));
  }
  return out;
}

// NFD, then nonspacing marks dropped: tokenizers' strip_accents.
std::u32string stripAccents(const std::u32string& s) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* nfd = unorm2_getNFDInstance(&status);
  std::u16string in = toUtf16(s);
  std::u16string out(in.size() * 3 + 16, u'\0');
  int32_t n = unorm2_normalize(nfd, reinterpret_cast<const UChar*>(in.data()), int32_t(in.size()),
                               reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    status = U_ZERO_ERROR;
    out.assign(size_t(n), u'\0');
    n = unorm2_normalize(nfd, reinterpret_cast<const UChar*>(in.data()), int32_t(in.size()),
                         reinterpret_cast<UChar*>(out.data()), int32_t(out.size()), &status);
  }
  if (U_FAILURE(status)) return s;
  std::u32string decomposed = toUtf32(out.data(), n), kept;
  for (char32_t c : decomposed) {
    if (u_charType(UChar32(c)) != U_NON_SPACING_MARK) kept.push_back(c);
  }
  return kept;
}

// Each character's full lowercase mapping on its own (Rust's char::to_lowercase): no context,
// so a capital sigma is always σ.
std::u32string lowercase(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
      continue;
    }
    UChar in[2], lower[8];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, UChar32(c));
    UErrorCode status = U_ZERO_ERROR;
    int32_t m = u_strToLower(lower, 8, in, n, "", &status);
    if (U_FAILURE(status)) {
      out.push_back(c);
      continue;
    }
    out += toUtf32(reinterpret_cast<const char16_t*>(lower), m);
  }
  return out;
}

std::string toUtf8(const char32_t* s, size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    char buf[4];
    int32_t len = 0;
    UBool error = false;
    U8_APPEND(buf, len, 4, UChar32(s[i]), error);
    if (!error) out.append(buf, size_t(len));
  }
  return out;
}

}  // namespace

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::load(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read the tokenizer file " + path;
    return nullptr;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rapidjson::Document d;
  if (!json::parse(text, &d) || !d.IsObject() || !d.HasMember("model") || !d["model"].IsObject()) {
    *error = path + " is not a tokenizer.json";
    return nullptr;
  }
  const rapidjson::Value& model = d["model"];
  if (!model.HasMember("type") || !model["type"].IsString() || std::string_view(model["type"].GetString()) != "WordPiece" ||
      !model.HasMember("vocab") || !model["vocab"].IsObject()) {
    *error = path + ": the model is not WordPiece";
    return nullptr;
  }
  std::unique_ptr<WordPieceTokenizer> t(new WordPieceTokenizer());
  for (auto it = model["vocab"].MemberBegin(); it != model["vocab"].MemberEnd(); ++it) {
    if (!it->value.IsInt64()) continue;
    t->vocab_.emplace(std::string(it->name.GetString(), it->name.GetStringLength()), it->value.GetInt64());
  }
  if (model.HasMember("continuing_subword_prefix") && model["continuing_subword_prefix"].IsString()) {
    t->prefix_ = model["continuing_subword_prefix"].GetString();
  }
  if (model.HasMember("max_input_chars_per_word") && model["max_input_chars_per_word"].IsUint()) {
    t->max_word_chars_ = model["max_input_chars_per_word"].GetUint();
  }
  auto idOf = [&](const char* name, int64_t* id) {
    auto found = t->vocab_.find(name);
    if (found == t->vocab_.end()) return false;
    *id = found->second;
    return true;
  };
  std::string unk = model.HasMember("unk_token") && model["unk_token"].IsString() ? model["unk_token"].GetString() : "[UNK]";
  if (!idOf(unk.c_str(), &t->unk_id_)) {
    *error = path + ": the vocabulary lacks its unknown token " + unk;
    return nullptr;
  }
  for (const auto& [piece, id] : t->vocab_) t->max_piece_bytes_ = std::max(t->max_piece_bytes_, piece.size());

  // Only the BERT pipeline this class implements: any other step would be silently skipped.
  auto typeOf = [&](const char* key) -> std::string {
    if (!d.HasMember(key) || !d[key].IsObject() || !d[key].HasMember("type") || !d[key]["type"].IsString()) return "";
    return d[key]["type"].GetString();
  };
  if (typeOf("normalizer") != "BertNormalizer" || typeOf("pre_tokenizer") != "BertPreTokenizer") {
    *error = path + ": only a BertNormalizer and a BertPreTokenizer are supported";
    return nullptr;
  }
  const rapidjson::Value& n = d["normalizer"];
  auto flag = [&](const char* key, bool fallback) { return n.HasMember(key) && n[key].IsBool() ? n[key].GetBool() : fallback; };
  t->clean_text_ = flag("clean_text", true);
  t->chinese_chars_ = flag("handle_chinese_chars", true);
  t->lowercase_ = flag("lowercase", true);
  t->strip_accents_ = flag("strip_accents", t->lowercase_);  // null: follows lowercase

  // The tokens around a text: [CLS] $A [SEP], as TemplateProcessing or BertProcessing gives them.
  std::string processor = typeOf("post_processor"), cls, sep;
  if (processor == "TemplateProcessing" && d["post_processor"].HasMember("single") && d["post_processor"]["single"].IsArray()) {
    const auto& single = d["post_processor"]["single"].GetArray();
    auto special = [&](rapidjson::SizeType i) -> std::string {
      if (i >= single.Size() || !single[i].IsObject() || !single[i].HasMember("SpecialToken")) return "";
      const rapidjson::Value& st = single[i]["SpecialToken"];
      return st.IsObject() && st.HasMember("id") && st["id"].IsString() ? st["id"].GetString() : "";
    };
    if (single.Size() == 3 && single[1].IsObject() && single[1].HasMember("Sequence")) {
      cls = special(0);
      sep = special(2);
    }
  } else if (processor == "BertProcessing") {
    const rapidjson::Value& p = d["post_processor"];
    auto first = [&](const char* key) -> std::string {
      return p.HasMember(key) && p[key].IsArray() && p[key].Size() == 2 && p[key][0].IsString() ? p[key][0].GetString() : "";
    };
    cls = first("cls");
    sep = first("sep");
  }
  if (cls.empty() || sep.empty() || !idOf(cls.c_str(), &t->cls_id_) || !idOf(sep.c_str(), &t->sep_id_)) {
    *error = path + ": the post-processor is not [CLS] text [SEP] with tokens of the vocabulary";
    return nullptr;
  }

  // Added tokens are matched whole in the raw text; the options that match them otherwise
  // (normalised, stripping spaces, whole words only) are not implemented, so refused.
  if (d.HasMember("added_tokens") && d["added_tokens"].IsArray()) {
    for (const auto& a : d["added_tokens"].GetArray()) {
      if (!a.IsObject() || !a.HasMember("content") || !a["content"].IsString() || !a.HasMember("id") || !a["id"].IsInt64()) {
        continue;
      }
      for (const char* option : {"normalized", "lstrip", "rstrip", "single_word"}) {
        if (a.HasMember(option) && a[option].IsBool() && a[option].GetBool()) {
          *error = path + ": added token " + a["content"].GetString() + " sets " + option + ", which is not supported";
          return nullptr;
        }
      }
      std::string content = a["content"].GetString();
      if (content.empty()) continue;
      t->added_first_[uint8_t(content[0])] = true;
      t->added_.emplace_back(std::move(content), a["id"].GetInt64());
    }
  }
  if (d.HasMember("truncation") && d["truncation"].IsObject() && d["truncation"].HasMember("max_length") &&
      d["truncation"]["max_length"].IsUint()) {
    t->max_length_ = d["truncation"]["max_length"].GetUint();
  }
  return t;
}

void WordPieceTokenizer::tokenize(std::string_view text, std::vector<int64_t>* ids) const {
  // The added tokens are found first, leftmost, the longest among those starting at one place.
  size_t begin = 0;
  for (size_t i = 0; i < text.size();) {
    const std::pair<std::string, int64_t>* found = nullptr;
    if (added_first_[uint8_t(text[i])]) {
      for (const auto& a : added_) {
        if (text.compare(i, a.first.size(), a.first) == 0 && (!found || a.first.size() > found->first.size())) found = &a;
      }
    }
    if (!found) {
      ++i;
      continue;
    }
    tokenizeSegment(text.substr(begin, i - begin), ids);
    ids->push_back(found->second);
    i += found->first.size();
    begin = i;
  }
  tokenizeSegment(text.substr(begin), ids);
}

void WordPieceTokenizer::tokenizeSegment(std::string_view text, std::vector<int64_t>* ids) const {
  std::u32string s;
  s.reserve(text.size());
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  for (int32_t i = 0, n = int32_t(text.size()); i < n;) {
    UChar32 c;
    U8_NEXT(p, i, n, c);
    char32_t ch = c < 0 ? 0xFFFD : char32_t(c);
    if (clean_text_) {
      if (ch == 0 || ch == 0xFFFD || isControl(ch)) continue;
      if (isWhitespace(ch)) ch = ' ';
    }
    if (chinese_chars_ && isChineseChar(ch)) {
      s.push_back(' ');
      s.push_back(ch);
      s.push_back(' ');
    } else {
      s.push_back(ch);
    }
  }
  if (strip_accents_) s = stripAccents(s);
  if (lowercase_) s = lowercase(s);
  std::u32string word;
  for (char32_t c : s) {
    if (isWhitespace(c)) {
      addWord(word, ids);
      word.clear();
    } else if (isPunctuation(c)) {
      addWord(word, ids);
      word.assign(1, c);
      addWord(word, ids);
      word.clear();
    } else {
      word.push_back(c);
    }
  }
  addWord(word, ids);
}

void WordPieceTokenizer::addWord(const std::u32string& word, std::vector<int64_t>* ids) const {
  if (word.empty()) return;
  if (word.size() > max_word_chars_) {
    ids->push_back(unk_id_);
    return;
  }
  // The word in UTF-8 once, with where each character starts; a piece is at most as long as the
  // longest vocabulary entry, so each start tries only that many bytes.
  std::string utf8;
  std::vector<size_t> at;  // at[i]: the byte where character i starts; at[size] the end
  for (char32_t c : word) {
    at.push_back(utf8.size());
    utf8 += toUtf8(&c, 1);
  }
  at.push_back(utf8.size());
  size_t first = ids->size();
  std::string piece;
  for (size_t start = 0; start < word.size();) {
    size_t end = word.size();
    while (end > start && at[end] - at[start] > max_piece_bytes_) --end;
    int64_t id = -1;
    for (; end > start; --end) {
      piece.assign(start > 0 ? prefix_ : std::string_view());
      piece.append(utf8, at[start], at[end] - at[start]);
      auto found = vocab_.find(piece);
      if (found != vocab_.end()) {
        id = found->second;
        break;
      }
    }
    if (id < 0) {  // a piece matches nothing: the whole word is unknown
      ids->resize(first);
      ids->push_back(unk_id_);
      return;
    }
    ids->push_back(id);
    start = end;
  }
}

}  // namespace outrigger::onnx
