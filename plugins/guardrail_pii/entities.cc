#include "entities.h"

#include <algorithm>
#include <cctype>

namespace outrigger::pii {
namespace {

const char kDigits[] = "0123456789";
const char kUpper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const char kLower[] = "abcdefghijklmnopqrstuvwxyz";

std::string alnum() { return std::string(kDigits) + kUpper + kLower; }

struct Builtin {
  EntitySpec entity;
  struct Pattern {
    std::string expression;
    std::string alphabet;  // "" for a PEM block
    uint32_t max_length = 0;  // for an unbounded expression
    ScanGroup group = kLiterals;
    double score_delta = 0;
    bool after_raise_word = false;
  };
  std::vector<Pattern> patterns;
};

// An unbounded expression (Vectorscan cannot track the start of a match through long bounded
// repeats) comes with the longest match its validator accepts, so a stream still knows how much
// it may have to hold back.
std::vector<Builtin> builtins() {
  const std::string token = alnum() + "_-";
  return {
      {{"email", "EMAIL", Check::kEmail, 0.9, {"email", "e-mail", "mail"}, {}},
       {{R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})", alnum() + "._%+-@", 254}}},
      {{"phone", "PHONE", Check::kPhone, 0.7, {"phone", "call", "tel", "mobile", "cell", "fax", "whatsapp", "contact"},
        {"order", "invoice", "tracking", "account", "ref", "isbn", "serial"}},
       {{R"(\+?\(?[0-9][0-9 ().\-]{5,22}[0-9])", std::string(kDigits) + " ().-+", 0, kDigitRuns}}},
      {{"credit_card", "CREDIT_CARD", Check::kCard, 1.0, {"card", "visa", "mastercard", "amex", "credit", "debit"}, {}},
       {{R"([0-9](?:[ \-]?[0-9]){11,18})", std::string(kDigits) + " -", 0, kDigitRuns}}},
      {{"iban", "IBAN", Check::kIban, 1.0, {"iban", "account", "bank"}, {}},
       {{R"([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30})", std::string(kDigits) + kUpper + " ", 0, kDigitRuns}}},
      {{"us_ssn", "US_SSN", Check::kSsn, 0.75, {"ssn", "social security", "ss#", "taxpayer", "tin"},
        {"order", "invoice", "tracking", "phone", "isbn", "serial", "part"}},
       {{R"([0-9]{3}-[0-9]{2}-[0-9]{4})", std::string(kDigits) + "-", 0, kDigitRuns},
        {R"([0-9]{3} [0-9]{2} [0-9]{4})", std::string(kDigits) + " ", 0, kDigitRuns},
        {R"([0-9]{9})", kDigits, 0, kDigitRuns, -0.45}}},  // nine bare digits: an SSN only with context
      {{"ipv4", "IP_ADDRESS", Check::kIpv4, 0.75, {"ip", "address", "host", "server"}, {"version", "release"}},
       {{R"([0-9]{1,3}(?:\.[0-9]{1,3}){3})", std::string(kDigits) + ".", 0, kDigitRuns}}},
      {{"ipv6", "IP_ADDRESS", Check::kIpv6, 0.7, {"ip", "address", "host", "server"}, {}},
       {{R"([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})", std::string(kDigits) + "abcdefABCDEF:", 0, kHexColons},
        {R"([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,6}:[0-9]{1,3}(?:\.[0-9]{1,3}){3})", std::string(kDigits) + "abcdefABCDEF:.",
         0, kHexColons}}},
      {{"openai_key", "OPENAI_KEY", Check::kOpenAi, 0.95, {}, {}},
       {{R"(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,})", token, 256}}},
      {{"anthropic_key", "ANTHROPIC_KEY", Check::kAnthropic, 1.0, {}, {}},
       {{R"(sk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_\-]{32,})", token, 256}}},
      {{"aws_access_key", "AWS_ACCESS_KEY", Check::kAwsKeyId, 1.0, {}, {}},
       {{R"((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})", std::string(kDigits) + kUpper}}},
      {{"aws_secret_key", "AWS_SECRET_KEY", Check::kAwsSecret, 0.3, {"aws", "secret", "access_key", "accesskey"}, {}},
       {{R"([A-Za-z0-9/+]{40})", alnum() + "/+", 0, kLiterals, 0, /*after_raise_word=*/true}}},
      {{"github_token", "GITHUB_TOKEN", Check::kGithub, 1.0, {}, {}},
       {{R"(gh[pousr]_[A-Za-z0-9]{36})", token}, {R"(github_pat_[A-Za-z0-9_]{82})", token}}},
      {{"slack_token", "SLACK_TOKEN", Check::kSlack, 1.0, {}, {}},
       {{R"(xox[abposr]-[A-Za-z0-9\-]{10,})", token, 256},
        {R"(https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24})", alnum() + ":/._-"}}},
      {{"google_api_key", "GOOGLE_API_KEY", Check::kGoogle, 1.0, {}, {}},
       {{R"(AIza[0-9A-Za-z_\-]{35})", token}}},
      {{"jwt", "JWT", Check::kJwt, 0.95, {}, {}},
       {{R"(eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,})", token + ".", 4096}}},
      {{"private_key", "PRIVATE_KEY", Check::kPrivateKey, 1.0, {}, {}},
       {{R"(-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----[A-Za-z0-9+/=\r\n]{16,}-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----)",
         "", 16384}}},
  };
}

}  // namespace

std::string literalExpression(std::string_view text) {
  // Every byte escaped as \xHH, so no character is read as regex syntax.
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : text) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

const std::vector<std::string>& builtinEntityNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Builtin& b : builtins()) out.push_back(b.entity.name);
    return out;
  }();
  return names;
}

void addBuiltins(const std::vector<std::string>& enabled, std::vector<EntitySpec>* entities,
                 std::vector<PatternSpec>* patterns) {
  for (Builtin& b : builtins()) {
    if (std::find(enabled.begin(), enabled.end(), b.entity.name) == enabled.end()) continue;
    const auto index = static_cast<uint32_t>(entities->size());
    entities->push_back(std::move(b.entity));
    for (auto& bp : b.patterns) {
      PatternSpec p;
      p.source.expression = bp.expression;
      p.entity = index;
      p.live = bp.alphabet.empty() ? Live::kPem : Live::kAlphabet;
      p.alphabet = bp.alphabet;
      p.max_length = bp.max_length;
      p.source.group = bp.group;
      p.score_delta = bp.score_delta;
      p.after_raise_word = bp.after_raise_word;
      patterns->push_back(std::move(p));
    }
  }
}

void addCustom(const std::string& name, const std::string& label, const std::string& expression, bool caseless,
               double score, uint32_t max_length, std::vector<EntitySpec>* entities, std::vector<PatternSpec>* patterns) {
  PatternSpec p;
  p.max_length = max_length;
  p.source.expression = expression;
  p.source.caseless = caseless;
  p.source.group = kLiterals;
  p.entity = static_cast<uint32_t>(entities->size());
  p.live = Live::kWidth;
  entities->push_back({name, label, Check::kNone, score, {}, {}});
  patterns->push_back(std::move(p));
}

void addDenyList(const std::string& name, const std::string& label, const std::vector<std::string>& terms,
                 std::vector<EntitySpec>* entities, std::vector<PatternSpec>* patterns) {
  const auto index = static_cast<uint32_t>(entities->size());
  entities->push_back({name, label, Check::kTerm, 1.0, {}, {}});
  for (const std::string& term : terms) {
    PatternSpec p;
    p.source.expression = literalExpression(term);
    p.source.caseless = true;
    p.source.group = kLiterals;
    p.entity = index;
    p.live = Live::kAlphabet;
    for (char c : term) {
      p.alphabet += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      p.alphabet += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    patterns->push_back(std::move(p));
  }
}

}  // namespace outrigger::pii
