// What the PII guardrail looks for: the built-in entities (their patterns, validators, base
// confidence and context words) and the shapes of custom patterns and deny lists from config.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pattern_scanner.h"

namespace outrigger::pii {

// The code that confirms a match (validators.h); kNone accepts it as matched.
enum class Check : uint8_t {
  kNone, kEmail, kPhone, kCard, kIban, kSsn, kIpv4, kIpv6, kOpenAi, kAnthropic, kAwsKeyId, kAwsSecret,
  kGithub, kSlack, kGoogle, kJwt, kPrivateKey, kTerm
};

struct EntitySpec {
  std::string name;   // config name: "email", "credit_card", or a custom pattern's name
  std::string label;  // placeholder type: EMAIL -> <EMAIL_1>
  Check check = Check::kNone;
  double score = 1.0;                      // confidence of a validated match before context
  std::vector<std::string> raise, lower;   // lower-case context words within 48 bytes before it
};

// How far back from the end of a stream a match of a pattern could still be growing.
enum class Live : uint8_t {
  kAlphabet,  // a match consists only of `alphabet`: the trailing run of it, up to the width
  kPem,       // from an open "-----BEGIN " to its "-----END ...KEY-----"
  kWidth,     // anything: the pattern's longest match
};

// Which database a pattern is scanned in (pattern_scanner.h says why there are several).
enum ScanGroup : uint8_t {
  kDigitRuns = 0,   // patterns without a literal, over digits and separators
  kHexColons = 1,   // IPv6: slows the digit runs down when it shares their database
  kLiterals = 2,    // patterns led by a literal (key prefixes, '@'), custom patterns, deny lists
};

struct PatternSpec {
  PatternSource source;
  uint32_t entity = 0;  // index into the entity list
  Live live = Live::kAlphabet;
  std::string alphabet;
  uint32_t max_length = 0;  // longest match accepted; 0: the expression's own bound
  double score_delta = 0;   // added to the entity's confidence for a match of this pattern
  // A match is reported only after one of the entity's raise words when its confidence without
  // one is below min_score (Detector::build decides): the one pass then looks for the word
  // first, which turns a pattern without a literal into one led by literals.
  bool after_raise_word = false;
};

// A Vectorscan expression matching `text` literally.
std::string literalExpression(std::string_view text);

// Names of the built-in entities, in their fixed order.
const std::vector<std::string>& builtinEntityNames();

// Appends the built-in entities named in `enabled` and their patterns.
void addBuiltins(const std::vector<std::string>& enabled, std::vector<EntitySpec>* entities,
                 std::vector<PatternSpec>* patterns);

// A config pattern (Vectorscan syntax) reported as `label`; matches longer than `max_length`
// are not reported.
void addCustom(const std::string& name, const std::string& label, const std::string& expression, bool caseless,
               double score, uint32_t max_length, std::vector<EntitySpec>* entities, std::vector<PatternSpec>* patterns);

// Literal terms, matched case-insensitively as whole words, reported as `label`.
void addDenyList(const std::string& name, const std::string& label, const std::vector<std::string>& terms,
                 std::vector<EntitySpec>* entities, std::vector<PatternSpec>* patterns);

}  // namespace outrigger::pii
