// Token counting throughput of guardrail.tokens' encoder against Python tiktoken (0.14.0, its
// Rust core) on the same bytes, in one run: English and C++ (this repository's READMEs and
// sources), a mixed corpus (prose in many scripts, code, emoji), random text (code points of many
// scripts, random bytes) and an adversarial one (10,000+ character repetitions, whitespace runs),
// both encodings, one thread each side, CPU time (thread CPU time here, process_time in Python),
// the best of 5 rounds in each of 2 passes that alternate the two sides (a shared VM slows
// everything on it by up to 2x for seconds at a time). Prints MB/s and the ratio (goal: >= 4x),
// and beside them the split alone (cutting the text into pieces, UTF-8 check included), which
// bounds a count.
//   tokens_bench [--python PATH]   (default: a virtualenv with the identity test's pinned tiktoken)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bpe_encoding.h"

using outrigger::tokens::BpeEncoding;

namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (!p || pclose(p) != 0) {
    std::fprintf(stderr, "tokens_bench: failed: %s\n%s", cmd.c_str(), out.c_str());
    std::exit(1);
  }
  return out;
}

std::vector<std::string> readCorpus(const std::string& path, size_t* bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> docs;
  *bytes = 0;
  for (size_t pos = 0; pos + 8 <= data.size();) {
    uint64_t n;
    std::memcpy(&n, data.data() + pos, 8);
    docs.emplace_back(data.substr(pos + 8, n));
    *bytes += n;
    pos += 8 + n;
  }
  return docs;
}

// CPU time of this thread: on a shared, loaded machine wall time mostly measures waiting for a core.
double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

enum class Mode { kCount, kEncode, kSplit };

// Best of 5 rounds: MB/s and tokens (pieces for kSplit). kEncode builds the id list; kSplit only
// cuts the text into pieces (pretokenizer.h), the part of a count before any lookup.
std::pair<double, size_t> measure(const BpeEncoding& enc, const std::vector<std::string>& docs, size_t bytes,
                                  Mode mode) {
  double best = 1e30;
  size_t tokens = 0;
  std::vector<uint32_t> out;
  for (int round = 0; round < 5; ++round) {
    double start = cpuSeconds();
    tokens = 0;
    for (const auto& d : docs) {
      if (mode == Mode::kEncode) {
        out.clear();
        enc.encode(d, &out);
        tokens += out.size();
      } else if (mode == Mode::kSplit) {
        tokens += enc.pieceCount(d);
      } else {
        tokens += enc.count(d);
      }
    }
    best = std::min(best, cpuSeconds() - start);
  }
  return {double(bytes) / best / 1e6, tokens};
}

}  // namespace

int main(int argc, char** argv) {
  std::string python;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--python") python = argv[i + 1];
  }
  if (python.empty()) {  // the identity test's pinned tiktoken, in a virtualenv of this build made on first use
    python = run(std::string(OUTRIGGER_SOURCE_DIR) + "/tests/tokens/tiktoken_venv.sh " OUTRIGGER_BUILD_DIR
                 "/tokens-venv");
    python.erase(python.find_last_not_of('\n') + 1);
  }
  std::string script = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/tokens/tiktoken_speed.py";
  char dir_template[] = "/tmp/tokens_bench.XXXXXX";
  std::string dir = mkdtemp(dir_template);
  run(python + " " + script + " corpus " + dir);

  std::printf("%-13s %-12s %6s %12s %12s %12s %12s %7s\n", "corpus", "encoding", "MB", "split only", "ours count",
              "ours encode", "tiktoken", "ratio");
  for (const char* corpus : {"english_code", "mixed", "random", "adversarial"}) {
    size_t bytes = 0;
    std::string path = dir + "/" + corpus + ".bin";
    std::vector<std::string> docs = readCorpus(path, &bytes);
    for (std::string_view name : BpeEncoding::names()) {
      const BpeEncoding& enc = *BpeEncoding::byName(name);
      double split_mbs = 0, count_mbs = 0, encode_mbs = 0, py_mbs = 0;
      size_t count_tokens = 0, encode_tokens = 0, py_tokens = 0;
      for (int pass = 0; pass < 2; ++pass) {
        auto [count_pass, counted] = measure(enc, docs, bytes, Mode::kCount);
        auto [encode_pass, encoded] = measure(enc, docs, bytes, Mode::kEncode);
        double split_pass = measure(enc, docs, bytes, Mode::kSplit).first;
        std::string theirs = run(python + " " + script + " measure " OUTRIGGER_TIKTOKEN_DIR " " + path + " " + std::string(name));
        split_mbs = std::max(split_mbs, split_pass);
        count_mbs = std::max(count_mbs, count_pass);
        encode_mbs = std::max(encode_mbs, encode_pass);
        py_mbs = std::max(py_mbs, std::atof(theirs.c_str()));
        count_tokens = counted;
        encode_tokens = encoded;
        py_tokens = std::strtoull(theirs.c_str() + theirs.find(' ') + 1, nullptr, 10);
      }
      std::printf("%-13s %-12s %6.2f %7.1f MB/s %7.1f MB/s %7.1f MB/s %7.1f MB/s %6.1fx%s\n", corpus,
                  std::string(name).c_str(), bytes / 1e6, split_mbs, count_mbs, encode_mbs, py_mbs, count_mbs / py_mbs,
                  count_tokens == py_tokens && encode_tokens == py_tokens ? "" : "  TOKEN COUNTS DIFFER");
    }
  }
  run("rm -rf " + dir);
  return 0;
}
