#include "pattern_scanner.h"

#include <hs.h>

#include "vectorscan_runtime.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <map>
#include <mutex>

namespace outrigger::pii {
namespace {

// The library build that scans here (vectorscan_runtime.h says why it is chosen).
const vectorscan::Runtime& hs() { return vectorscan::runtime(); }

struct Collector {
  std::vector<Match>* out;
  size_t limit;
  bool overflow = false;
};

int onMatch(unsigned int id, unsigned long long from, unsigned long long to, unsigned int, void* ctx) {
  auto* c = static_cast<Collector*>(ctx);
  if (c->out->size() >= c->limit) {
    c->overflow = true;
    return 1;  // stop: the caller fails closed rather than scan with a partial view
  }
  c->out->push_back({id, from, to});
  return 0;
}

std::string hsError(const char* what, hs_error_t err) {
  return std::string(what) + " failed (vectorscan error " + std::to_string(err) + ")";
}

struct Located {
  std::vector<Match>* out;
  const std::vector<uint64_t>* ends;
  uint32_t pattern;
  uint64_t base;
  size_t limit;
  bool overflow = false;
};

int onLocated(unsigned int, unsigned long long from, unsigned long long to, unsigned int, void* ctx) {
  auto* c = static_cast<Located*>(ctx);
  if (!std::binary_search(c->ends->begin(), c->ends->end(), c->base + to)) return 0;
  if (c->out->size() >= c->limit) {
    c->overflow = true;
    return 1;
  }
  c->out->push_back({c->pattern, c->base + from, c->base + to});
  return 0;
}

// The expression the one pass looks for: the pattern, after its required prefix when it has one.
std::string onePassExpression(const PatternSource& p) {
  if (p.after.empty()) return p.expression;
  return "(?:" + p.after + ")[\\s\\S]{0," + std::to_string(p.after_within) + "}(?:" + p.expression + ")";
}

// Compiles `indices` of `patterns`, each with its index as its id.
hs_database_t* compileMode(const std::vector<PatternSource>& patterns, const std::vector<uint32_t>& indices, unsigned mode,
                           unsigned som, std::string* error) {
  std::vector<std::string> sources;
  std::vector<const char*> expressions;
  std::vector<unsigned> flags, ids;
  for (uint32_t i : indices) sources.push_back(som ? patterns[i].expression : onePassExpression(patterns[i]));
  for (size_t k = 0; k < indices.size(); ++k) {
    expressions.push_back(sources[k].c_str());
    flags.push_back(som | (patterns[indices[k]].caseless ? HS_FLAG_CASELESS : 0u));
    ids.push_back(indices[k]);
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  hs_platform_info_t platform = vectorscan::compilePlatform();
  if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(indices.size()), mode,
                       &platform, &db, &err) != HS_SUCCESS) {
    std::string which = err && err->expression >= 0 ? "pattern '" + sources[static_cast<size_t>(err->expression)] + "': " : "";
    *error = which + (err ? err->message : "compile failed");
    hs_free_compile_error(err);
    return nullptr;
  }
  return db;
}

}  // namespace

std::shared_ptr<const PatternDatabase> PatternDatabase::compile(const std::vector<PatternSource>& patterns,
                                                                std::vector<uint32_t>* max_widths, std::string* error) {
  if (patterns.empty()) {
    *error = "no patterns";
    return nullptr;
  }
  max_widths->clear();
  for (const PatternSource& p : patterns) {
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_expression_info(p.expression.c_str(), HS_FLAG_SOM_LEFTMOST | (p.caseless ? HS_FLAG_CASELESS : 0u), &info,
                           &err) != HS_SUCCESS) {
      *error = "pattern '" + p.expression + "': " + (err ? err->message : "invalid");
      hs_free_compile_error(err);
      return nullptr;
    }
    max_widths->push_back(info->max_width == UINT_MAX ? UINT32_MAX : info->max_width);
    if (info->min_width == 0) {
      *error = "pattern '" + p.expression + "' matches the empty string";
      std::free(info);
      return nullptr;
    }
    std::free(info);
  }
  // Every worker's instance of a config compiles the same patterns, and a reload usually keeps
  // them: one compiled database per pattern list, shared while anyone holds it.
  std::string key;
  for (const PatternSource& p : patterns) {
    key += p.expression + (p.caseless ? "\x01i" : "\x01") + char('0' + p.group) + p.after + '\x01' +
           std::to_string(p.after_within) + '\0';
  }
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<const PatternDatabase>> compiled;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = compiled.find(key); it != compiled.end()) {
    if (auto shared = it->second.lock()) return shared;
  }
  for (auto it = compiled.begin(); it != compiled.end();) it = it->second.expired() ? compiled.erase(it) : std::next(it);
  std::shared_ptr<PatternDatabase> db(new PatternDatabase());
  std::map<uint8_t, std::vector<uint32_t>> groups;
  for (uint32_t i = 0; i < patterns.size(); ++i) groups[patterns[i].group].push_back(i);
  std::vector<uint32_t> all;
  for (const auto& [group, indices] : groups) {
    db->blocks_.push_back(compileMode(patterns, indices, HS_MODE_BLOCK, 0, error));
    if (!db->blocks_.back()) return nullptr;
    all.insert(all.end(), indices.begin(), indices.end());
  }
  db->stream_ = compileMode(patterns, all, HS_MODE_STREAM, 0, error);
  if (!db->stream_) return nullptr;
  for (uint32_t i = 0; i < patterns.size(); ++i) {
    db->starts_.push_back(compileMode(patterns, {i}, HS_MODE_BLOCK, HS_FLAG_SOM_LEFTMOST, error));
    if (!db->starts_.back()) return nullptr;
  }
  compiled[key] = db;
  return db;
}

PatternDatabase::~PatternDatabase() {
  if (stream_) hs_free_database(stream_);
  for (const auto* list : {&blocks_, &starts_}) {
    for (hs_database* db : *list) {
      if (db) hs_free_database(db);
    }
  }
}

Scanner::Scanner(std::shared_ptr<const PatternDatabase> db, size_t max_matches)
    : db_(std::move(db)), max_matches_(max_matches) {
  hs_error_t err = hs_alloc_scratch(db_->stream(), &scratch_);
  for (size_t i = 0; err == HS_SUCCESS && i < db_->blocks().size(); ++i) {
    err = hs_alloc_scratch(db_->blocks()[i], &scratch_);
  }
  for (uint32_t i = 0; err == HS_SUCCESS && i < db_->patternCount(); ++i) {
    err = hs_alloc_scratch(db_->starts(i), &scratch_);
  }
  if (err != HS_SUCCESS) alloc_error_ = hsError("allocating scratch", err);
}

Scanner::~Scanner() {
  if (scratch_) hs_free_scratch(scratch_);
}

MatchStream::~MatchStream() {
  if (stream_) hs().close_stream(stream_, nullptr, nullptr, nullptr);
}

hs_scratch* Scanner::scratchForCall() const { return fail_ ? nullptr : scratch_; }

std::string Scanner::scan(std::string_view text, std::vector<Match>* out) {
  if (text.size() > UINT_MAX) return "text too large to scan";
  if (text.empty()) return {};  // nothing to find, and Vectorscan refuses a null buffer
  Collector c{out, out->size() + max_matches_};
  hs_error_t err = HS_SUCCESS;
  for (size_t i = 0; err == HS_SUCCESS && i < db_->blocks().size(); ++i) {
    err = hs().scan(db_->blocks()[i], text.data(), static_cast<unsigned>(text.size()), 0, scratchForCall(), &onMatch,
                    &c);
  }
  if (c.overflow) return "more than " + std::to_string(max_matches_) + " candidate matches";
  return err == HS_SUCCESS ? std::string() : hsError("scan", err);
}

std::string Scanner::locate(uint32_t pattern, std::string_view window, uint64_t base, const std::vector<uint64_t>& ends,
                            std::vector<Match>* out) {
  if (window.size() > UINT_MAX) return "window too large to scan";
  Located c{out, &ends, pattern, base, out->size() + max_matches_};
  hs_error_t err = hs().scan(db_->starts(pattern), window.data(), static_cast<unsigned>(window.size()), 0,
                             scratchForCall(), &onLocated, &c);
  if (c.overflow) return "more than " + std::to_string(max_matches_) + " candidate matches";
  return err == HS_SUCCESS ? std::string() : hsError("locating starts", err);
}

std::string Scanner::open(MatchStream* stream) {
  if (stream->stream_) hs().close_stream(stream->stream_, nullptr, nullptr, nullptr);
  stream->stream_ = nullptr;
  hs_error_t err = hs().open_stream(db_->stream(), 0, &stream->stream_);
  return err == HS_SUCCESS ? std::string() : hsError("opening a stream", err);
}

std::string Scanner::feed(MatchStream& stream, std::string_view chunk, std::vector<Match>* out) {
  if (!stream.stream_) return "scanning a stream that is not open";
  if (chunk.size() > UINT_MAX) return "chunk too large to scan";
  if (chunk.empty()) return {};  // a chunk of tool-call deltas only: Vectorscan refuses a null buffer
  Collector c{out, out->size() + max_matches_};
  hs_error_t err =
      hs().scan_stream(stream.stream_, chunk.data(), static_cast<unsigned>(chunk.size()), 0, scratchForCall(),
                       &onMatch, &c);
  if (c.overflow) return "more than " + std::to_string(max_matches_) + " candidate matches";
  return err == HS_SUCCESS ? std::string() : hsError("stream scan", err);
}

std::string Scanner::close(MatchStream& stream, std::vector<Match>* out) {
  if (!stream.stream_) return "closing a stream that is not open";
  Collector c{out, out->size() + max_matches_};
  hs_error_t err = hs().close_stream(stream.stream_, scratchForCall(), &onMatch, &c);
  // Refused before freeing (no usable scratch): free it without reporting.
  if (err == HS_INVALID || err == HS_SCRATCH_IN_USE) hs().close_stream(stream.stream_, nullptr, nullptr, nullptr);
  stream.stream_ = nullptr;
  if (c.overflow) return "more than " + std::to_string(max_matches_) + " candidate matches";
  return err == HS_SUCCESS ? std::string() : hsError("closing a stream", err);
}

}  // namespace outrigger::pii
