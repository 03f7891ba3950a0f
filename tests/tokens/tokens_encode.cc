// Encodes every document of a corpus file (<u64 LE length><UTF-8 bytes> records, as
// make_corpus.py writes them) and prints one line of token ids per document, for
// identity_test.py to compare with Python tiktoken. Also checks, per document, that count()
// agrees with encode() and that the tree merge gives the ids of tiktoken's rescanning loop.
//   tokens_encode ENCODING CORPUS
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bpe_encoding.h"

using outrigger::tokens::BpeEncoding;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tokens_encode ENCODING CORPUS\n");
    return 2;
  }
  const BpeEncoding* enc = BpeEncoding::byName(argv[1]);
  std::ifstream in(argv[2], std::ios::binary);
  std::string corpus((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!enc || corpus.empty()) {
    std::fprintf(stderr, "tokens_encode: unknown encoding or empty corpus\n");
    return 2;
  }
  std::vector<uint32_t> ids, tree_ids;
  std::string line;
  for (size_t pos = 0; pos + 8 <= corpus.size();) {
    uint64_t len;
    std::memcpy(&len, corpus.data() + pos, 8);
    std::string_view doc(corpus.data() + pos + 8, len);
    pos += 8 + len;
    ids.clear();
    enc->encode(doc, &ids);
    if (enc->count(doc) != ids.size()) {
      std::fprintf(stderr, "tokens_encode: count() %zu != encode() %zu\n", enc->count(doc), ids.size());
      return 1;
    }
    tree_ids.clear();
    const_cast<BpeEncoding*>(enc)->setQuadraticMergeLimitForTest(1);
    enc->encode(doc, &tree_ids);
    const_cast<BpeEncoding*>(enc)->setQuadraticMergeLimitForTest(BpeEncoding::kQuadraticMergeLimit);
    if (tree_ids != ids) {
      std::fprintf(stderr, "tokens_encode: the tree merge differs from the rescanning merge\n");
      return 1;
    }
    line.clear();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(ids[i]);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
  }
  return 0;
}
