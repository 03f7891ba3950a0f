// The BERT tokenizer of a Hugging Face tokenizer.json (BertNormalizer, BertPreTokenizer,
// WordPiece), giving the ids the Python `tokenizers` library gives, special tokens aside:
// tests/onnx checks them on a generated corpus. Its steps, as the library's Rust code runs them:
//   1. the added tokens ("[CLS]", "[SEP]" ...) are found in the raw text first and kept whole;
//   2. clean: NUL, U+FFFD and control and format characters (Cc, Cf, Cs, Co; not tab, LF, CR)
//      are dropped, and whitespace becomes a space;
//   3. CJK ideographs get a space on either side;
//   4. accents are stripped (NFD, then nonspacing marks dropped) and letters lowercased, when the
//      file asks for it;
//   5. words are cut at whitespace, and each punctuation character is a word of its own;
//   6. each word is matched greedily, longest vocabulary entry first, later pieces with the
//      "##" prefix; a word with a piece not in the vocabulary, or longer than
//      max_input_chars_per_word characters, is one unknown token.
// The Unicode properties come from ICU (Debian libicu-dev). Its tables and the Rust crates'
// differ for a few recently assigned characters, which can then tokenize differently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace outrigger::onnx {

class WordPieceTokenizer {
 public:
  // Reads a tokenizer.json of exactly this pipeline (a BertNormalizer, a BertPreTokenizer,
  // WordPiece, [CLS] text [SEP] after); null with `*error` set when the file is missing or
  // describes anything else, which would otherwise be tokenized wrongly without a word.
  static std::unique_ptr<WordPieceTokenizer> load(const std::string& path, std::string* error);

  // Appends the ids of `text` (UTF-8; an invalid sequence is dropped as U+FFFD is) to *ids,
  // without [CLS] and [SEP].
  void tokenize(std::string_view text, std::vector<int64_t>* ids) const;

  size_t vocabSize() const { return vocab_.size(); }
  int64_t clsId() const { return cls_id_; }
  int64_t sepId() const { return sep_id_; }
  // The longest sequence the file truncates to (its `truncation.max_length`), or 0.
  size_t maxLength() const { return max_length_; }

 private:
  WordPieceTokenizer() = default;
  void tokenizeSegment(std::string_view text, std::vector<int64_t>* ids) const;
  void addWord(const std::u32string& word, std::vector<int64_t>* ids) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::pair<std::string, int64_t>> added_;  // special tokens, matched in the raw text
  bool added_first_[256] = {};                           // the bytes an added token starts with
  std::string prefix_ = "##";
  size_t max_word_chars_ = 100;
  size_t max_piece_bytes_ = 0;  // the longest vocabulary entry, "##" included
  int64_t unk_id_ = 0, cls_id_ = 0, sep_id_ = 0;
  bool lowercase_ = true, strip_accents_ = true, clean_text_ = true, chinese_chars_ = true;
  size_t max_length_ = 0;
};

}  // namespace outrigger::onnx
