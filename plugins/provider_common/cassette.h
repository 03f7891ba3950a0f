// Record and replay of upstream HTTP exchanges ("cassettes"), for deterministic tests and evals.
// Recording keeps what the upstream sent back byte for byte, cut where the transport cut it, with
// each piece's time; replay hands those bytes to the provider's own parser again. So the chunks,
// refusals, usage and costs come out the same, with no network call.
//
// An exchange is found by a canonical request key: the URL path and the request body as JSON with
// its object keys sorted and the volatile fields (`ignore_fields`, by default `user` and
// `metadata`) taken out. Request headers are never written (they carry the keys); the stored
// request text, shown when a replay misses, can be redacted with `redact` patterns.
//
// A cassette is a JSONL file, one exchange a line, shared by every instance that names the same
// path. Each append is one write(2) to an O_APPEND descriptor under flock, so processes and
// provider plugins writing one file never interleave lines. A key recorded several times (a retry after a 503, the same
// question asked again) replays its recordings in the order they were made, then the last again.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace outrigger::providers {

struct RecordedPiece {
  uint32_t at_ms = 0;  // since the request was sent
  std::string bytes;
};

struct RecordedExchange {
  std::string key, path;
  std::string request;  // canonical JSON, redacted: for the miss message
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // content-type and retry hints
  std::vector<RecordedPiece> pieces;
  uint32_t total_ms = 0;
};

class Cassette {
 public:
  // Loads `path` (a missing file is empty unless `must_exist`); `fresh`: a `record` run, which
  // starts the file again at its first recording (not before: `outrigger check` creates the
  // instance and records nothing). A last line cut short (a crash mid-append) is left out.
  // Throws std::runtime_error.
  Cassette(std::string path, bool must_exist, bool fresh = false);

  // The key's next recording in order (the last once all were played), or nullptr.
  std::shared_ptr<const RecordedExchange> take(const std::string& key);
  // Why nothing matches: the nearest recording on the same path and where it differs, for the
  // caller; `values` gets what differs there, recorded and asked (another request's text: for the
  // log, not the caller).
  std::string explainMiss(std::string_view path, const std::string& canonical_request, std::string* values) const;
  // Appends to the file and the index. False when the file cannot be written.
  bool append(std::shared_ptr<const RecordedExchange> exchange);
  size_t size() const;

 private:
  std::string path_;
  bool ends_mid_line_ = false;  // the file's last line has no newline: the next append starts one
  bool fresh_pending_ = false;  // record: the first append empties the file (once a process)
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const RecordedExchange>> exchanges_;
  struct Takes {
    std::vector<std::shared_ptr<const RecordedExchange>> recorded;
    size_t next = 0;
  };
  std::unordered_map<std::string, Takes> by_key_;
};

struct CassetteSettings {
  enum class Mode { kOff, kReplay, kRecord, kReplayOrRecord, kPassthrough };
  Mode mode = Mode::kOff;
  bool latency = false;  // replay at the recorded pace
  std::vector<std::string> ignore_fields{"user", "metadata"};
  std::vector<std::string> redact;  // RE2 patterns replaced in the stored request text
  std::shared_ptr<Cassette> tape;   // the file, shared by path
};

// The JSON Schema of the `cassette` object, to splice into a provider's schema.
extern const char kCassetteSchema[];

// Reads `cassette` from a provider's config (mode off when absent). Throws std::runtime_error.
CassetteSettings readCassetteSettings(const rapidjson::Value& config);

// The request's canonical text (sorted keys, ignored fields out) and its key.
struct CanonicalRequest {
  std::string text, key;
};
CanonicalRequest canonicalRequest(std::string_view path, std::string_view body, const CassetteSettings& s);
// The text as stored: the redact patterns replaced by "<redacted>".
std::string redactedRequest(const std::string& canonical, const CassetteSettings& s);

}  // namespace outrigger::providers
