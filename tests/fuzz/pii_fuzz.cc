// guardrail.pii on hostile text, streamed and whole: the answer cut into fuzzer-chosen chunks must
// come out of the stream byte for byte as the whole answer does (detect, apply, restore), with the
// same detections counted and the same deny and flag, in each of four policies (placeholders,
// reversible masks, salted hashes, and custom patterns with a deny list and per-entity actions).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "pattern_scanner.h"
#include "pii_settings.h"
#include "redaction.h"
#include "stream_redactor.h"

using namespace outrigger::pii;

namespace {

struct Policy {
  explicit Policy(const char* config)
      : settings(parsePiiSettings(config)),
        scanner(settings.detector->database(), settings.max_candidates),
        redactor(*settings.detector, settings.response_policy) {}

  // The caller's own values, redacted restorably as a request would be, so that an answer quoting
  // their placeholders has something to restore.
  PlaceholderBook requestBook() {
    static const std::string prompt = "mail jane@corp.example about 4111111111111111 from 203.0.113.9";
    std::vector<Detection> found;
    PlaceholderBook book;
    if (!settings.detector->detect(scanner, prompt, &found).empty()) std::abort();
    std::string sent;
    Outcome o;
    Redactor(*settings.detector, settings.request_policy).apply(prompt, 0, 0, prompt.size(), found, book, true, &sent, &o);
    return book;
  }

  PiiSettings settings;
  Scanner scanner;
  Redactor redactor;
};

bool sameOutcome(const Outcome& a, const Outcome& b) {
  if (a.denied != b.denied || a.flagged != b.flagged || a.deny_label != b.deny_label) return false;
  size_t n = std::max(a.per_entity.size(), b.per_entity.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = i < a.per_entity.size() ? a.per_entity[i] : 0, y = i < b.per_entity.size() ? b.per_entity[i] : 0;
    if (x != y) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Policy policies[] = {
      Policy("{}"),
      Policy(R"({"reversible": true, "action": "mask"})"),
      Policy(R"({"action": "hash", "hash_salt": "s1"})"),
      Policy(R"({"custom": [{"name": "employee_id", "pattern": "EMP-[0-9]{6}"}],
                 "deny_lists": [{"name": "project", "label": "CODENAME", "terms": ["Blue Heron", "nightjar"]}],
                 "actions": {"project": "redact", "phone": "mask", "ipv4": "hash", "us_ssn": "deny", "iban": "flag"}})"),
  };
  if (size < 3) return 0;
  Policy& p = policies[data[0] % 4];
  const size_t max_chunk = 1 + data[1] % 48;
  uint32_t state = data[2] | 1u;
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);

  PlaceholderBook whole_book = p.requestBook();
  std::vector<Detection> found;
  if (!p.settings.detector->detect(p.scanner, text, &found).empty()) return 0;  // e.g. too many candidates
  std::string whole;
  Outcome whole_outcome;
  p.redactor.apply(text, 0, 0, text.size(), found, whole_book, false, &whole, &whole_outcome);
  if (p.settings.reversible) whole = restorePlaceholders(whole, whole_book);

  PlaceholderBook stream_book = p.requestBook();
  StreamRedactor stream(*p.settings.detector, p.redactor, stream_book, p.settings.reversible);
  if (!stream.start(p.scanner).empty()) std::abort();
  std::string streamed;
  Outcome stream_outcome;
  for (size_t at = 0; at < text.size();) {
    state = state * 1103515245u + 12345u;  // chunk lengths from the input's seed
    const size_t n = std::min(text.size() - at, 1 + (state >> 16) % max_chunk);
    if (!stream.feed(p.scanner, text.substr(at, n), &streamed, &stream_outcome).empty()) return 0;
    at += n;
  }
  if (!stream.finish(p.scanner, &streamed, &stream_outcome).empty()) return 0;
  if (stream.held() != 0) std::abort();
  if (streamed != whole) std::abort();
  if (!sameOutcome(whole_outcome, stream_outcome)) std::abort();
  return 0;
}
