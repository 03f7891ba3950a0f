// guardrail.pii's detection without the daemon: validators, every entity found and its
// look-alikes not, context words, the actions, reversible placeholders, the stream hold-back
// (equal to the whole-text result at every split point) and detector failures.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "pattern_scanner.h"
#include "vectorscan_runtime.h"
#include "pii_settings.h"
#include "json_strings.h"
#include "stream_redactor.h"
#include "validators.h"
#include "common/utf8.h"

using namespace outrigger::pii;

namespace {

struct Fixture {
  explicit Fixture(const std::string& config = "{}")
      : settings(parsePiiSettings(config)),
        scanner(settings.detector->database(), settings.max_candidates),
        redactor(*settings.detector, settings.response_policy) {}

  // The labels found in `text`, in order.
  std::vector<std::string> labels(const std::string& text) {
    std::vector<Detection> found;
    REQUIRE(settings.detector->detect(scanner, text, &found).empty());
    std::vector<std::string> out;
    for (const Detection& d : found) out.push_back(settings.detector->entity(d.entity).label);
    return out;
  }
  std::string found(const std::string& text) {
    std::vector<Detection> f;
    REQUIRE(settings.detector->detect(scanner, text, &f).empty());
    std::string out;
    for (const Detection& d : f) out += (out.empty() ? "" : "|") + text.substr(d.from, d.to - d.from);
    return out;
  }
  // The whole-text result: detect, apply, restore.
  std::string unary(const std::string& text, PlaceholderBook& book, Outcome* outcome = nullptr) {
    std::vector<Detection> f;
    REQUIRE(settings.detector->detect(scanner, text, &f).empty());
    Outcome o;
    std::string out;
    redactor.apply(text, 0, 0, text.size(), f, book, false, &out, outcome ? outcome : &o);
    return settings.reversible ? restorePlaceholders(out, book) : out;
  }
  std::string streamed(const std::vector<std::string>& chunks, PlaceholderBook& book) {
    StreamRedactor s(*settings.detector, redactor, book, settings.reversible);
    REQUIRE(s.start(scanner).empty());
    std::string out;
    Outcome o;
    for (const std::string& c : chunks) REQUIRE(s.feed(scanner, c, &out, &o).empty());
    REQUIRE(s.finish(scanner, &out, &o).empty());
    return out;
  }

  PiiSettings settings;
  Scanner scanner;
  Redactor redactor;
};

// Texts with every entity, next to each other, at the ends, and look-alikes.
const std::vector<std::string> kCorpus = {
    "Reach jane.roe+news@mail.example.co.uk, +44 20 7946 0958 or (415) 555-2671.",
    "Card 4111 1111 1111 1111 exp 12/27; Amex 378282246310005; bad 4111-1111-1111-1112; MC 2221000000000009.",
    "IBAN GB82 WEST 1234 5698 7654 32 and DE89370400440532013000. Not: GB82 WEST 1234 5698 7654 33.",
    "SSN 536-22-1234, area 666-12-3456 is invalid, so are 900-12-3456 and 123-00-4567. ssn 536221234",
    "Hosts 10.0.0.254, 256.1.1.1, 1.2.3.4.5 and fe80::1ff:fe23:4567:890a, ::ffff:192.0.2.128 at 10:30:45.",
    "keys sk-proj-Ab3dT3BlbkFJxYz0123456789abcdefghij AKIAIOSFODNN7EXAMPLE ghp_0123456789abcdefghijABCDEFGHIJ012345 "
    "xoxb-123456789012-abcdefABCDEF AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY and a token "
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY----- done",
    "<EMAIL_1> wrote to <EMAIL_1> and <PHONE_2>; a@b.c is not an address, x@y.io is. Ends with 4111111111111111",
    // A grouped card is found only with the four bytes after it read: its expiry, or another group.
    "Card 4111 1111 1111 1111 12/27 please; ref 99 4111 1111 1111 1111 123 12/27 ok; 4111 1111 1111 1111 8/29",
};

}  // namespace

TEST_CASE("the scanner finds a match at each of 64 alignments of the text's buffer") {
  // The e-mail pattern alone: Debian's Vectorscan AVX-512 build missed it at 15 of 64 alignments.
  std::vector<uint32_t> widths;
  std::string error;
  PatternSource email;
  email.expression = R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})";
  auto db = PatternDatabase::compile({email}, &widths, &error);
  REQUIRE(db);
  Scanner scanner(db, 64);
  const std::string text = "Admit important recently west. Please write to Linda Dougherty at sara49@gmail.com. Art. ";
  std::vector<char> buffer(text.size() + 128);
  char* base = buffer.data() + (64 - reinterpret_cast<uintptr_t>(buffer.data()) % 64);
  int missed = 0, missed_streamed = 0;
  for (size_t offset = 0; offset < 64; ++offset) {
    std::copy(text.begin(), text.end(), base + offset);
    std::vector<Match> ends, streamed;
    REQUIRE(scanner.scan(std::string_view(base + offset, text.size()), &ends).empty());
    if (ends.empty()) ++missed;
    MatchStream stream;
    REQUIRE(scanner.open(&stream).empty());
    REQUIRE(scanner.feed(stream, std::string_view(base + offset, text.size()), &streamed).empty());
    REQUIRE(scanner.close(stream, &streamed).empty());
    if (streamed.empty()) ++missed_streamed;
  }
  CHECK(missed == 0);
  CHECK(missed_streamed == 0);
#if defined(__x86_64__)
  // The workaround is in force wherever it can be (the weak symbols resolved).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) CHECK(std::string(outrigger::vectorscan::runtime().build) == "avx2");
#endif
}

TEST_CASE("validators: Luhn, card schemes and lengths, IBAN mod-97 and country length, SSN ranges") {
  CHECK(luhnValid("4111111111111111"));
  CHECK_FALSE(luhnValid("4111111111111112"));
  CHECK(cardValid("4222222222222"));            // Visa 13
  CHECK(cardValid("4111 1111 1111 1111"));      // Visa 16
  CHECK(cardValid("4000000000000000006"));      // Visa 19
  CHECK(cardValid("5555555555554444"));         // Mastercard 51-55
  CHECK(cardValid("2223003122003222"));         // Mastercard 2221-2720
  CHECK(cardValid("378282246310005"));          // Amex
  CHECK(cardValid("6011111111111117"));         // Discover
  CHECK(cardValid("3530111333300000"));         // JCB 16
  CHECK(cardValid("180000000000002"));          // JCB 15
  CHECK(cardValid("6759649826438453"));         // Maestro
  CHECK(cardValid("6200000000000005"));         // UnionPay
  CHECK(cardValid("30569309025904"));           // Diners 14
  CHECK_FALSE(cardValid("4111 1111-1111 1111"));  // mixed separators
  CHECK_FALSE(cardValid("1234567812345670"));   // Luhn-valid, no scheme
  CHECK_FALSE(cardValid("378282246310006"));
  CHECK(ibanValid("GB82WEST12345698765432"));
  CHECK(ibanValid("GB82 WEST 1234 5698 7654 32"));
  CHECK_FALSE(ibanValid("GB82WEST12345698765433"));  // check digits
  CHECK_FALSE(ibanValid("GB82WEST1234569876543"));   // GB length is 22
  CHECK_FALSE(ibanValid("ZZ82WEST12345698765432"));  // no such country
  CHECK(ssnValid("536-22-1234"));
  CHECK(ssnValid("536221234"));
  for (const char* bad : {"000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "536-00-1234", "536-22-0000",
                          "123-45-6789", "536-22 1234", "111-11-1111"}) {
    INFO(bad);
    CHECK_FALSE(ssnValid(bad));
  }
  CHECK(ipv4Valid("192.168.0.1"));
  CHECK_FALSE(ipv4Valid("192.168.0.256"));
  CHECK_FALSE(ipv4Valid("192.168.01.1"));
  CHECK(ipv6Valid("2001:db8::1"));
  CHECK_FALSE(ipv6Valid("10:30:45"));
  CHECK(emailValid("a.b+c@sub.example.org"));
  CHECK_FALSE(emailValid("a..b@example.org"));
  CHECK_FALSE(emailValid("ab@example.c0m"));
  CHECK(jwtValid("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijklmnop"));
  CHECK_FALSE(jwtValid("eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.abcdefghijklmnop"));  // no "alg"
}

// A space-grouped card right before its expiry was taken for part of a longer number and let
// through whole. Three digits after it stay a join: they may be a 19-digit number's last group.
TEST_CASE("a space-grouped card right before its expiry is found") {
  Fixture f;
  CHECK(f.found("Card 4111 1111 1111 1111 12/27 please") == "4111 1111 1111 1111");
  CHECK(f.found("Card 4111 1111 1111 1111 1/27") == "4111 1111 1111 1111");
  CHECK(f.found("Card 4111 1111 1111 1111 8074 5") == "");
}

TEST_CASE("every built-in entity is found, and its checksum-broken or out-of-range look-alikes are not") {
  Fixture f;
  CHECK(f.found(kCorpus[0]) == "jane.roe+news@mail.example.co.uk|+44 20 7946 0958|(415) 555-2671");
  CHECK(f.found(kCorpus[1]) == "4111 1111 1111 1111|378282246310005|2221000000000009");
  CHECK(f.found(kCorpus[2]) == "GB82 WEST 1234 5698 7654 32|DE89370400440532013000");
  CHECK(f.found(kCorpus[3]) == "536-22-1234|536221234");
  CHECK(f.found(kCorpus[4]) == "10.0.0.254|fe80::1ff:fe23:4567:890a|::ffff:192.0.2.128");
  CHECK(f.labels(kCorpus[5]) ==
        std::vector<std::string>{"OPENAI_KEY", "AWS_ACCESS_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "GOOGLE_API_KEY"});
  CHECK(f.labels(kCorpus[6]) == std::vector<std::string>{"AWS_SECRET_KEY", "JWT"});
  CHECK(f.labels(kCorpus[7]) == std::vector<std::string>{"PRIVATE_KEY"});
  CHECK(f.found(kCorpus[8]) == "x@y.io|4111111111111111");
  CHECK(f.found(kCorpus[9]) == "4111 1111 1111 1111|4111 1111 1111 1111");
}

TEST_CASE("context words raise or lower confidence") {
  Fixture f;
  CHECK(f.found("ref 536221234") == "");             // nine bare digits need context
  CHECK(f.found("my ssn is 536221234") == "536221234");
  CHECK(f.found("SSN: 536-22-1234") == "536-22-1234");
  CHECK(f.found("invoice number 536-22-1234") == "");  // lowered below min_score
  CHECK(f.found("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  CHECK(f.found("sha wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "");
}

TEST_CASE("a pattern only context can lift to min_score is found after its context word, and anywhere once it need not be") {
  Fixture f;
  CHECK(f.found("AWS secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
  CHECK(f.found("SSN 536221234") == "536221234");
  CHECK(f.found("secret, then more than sixty-four bytes of prose before the key appears: "
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "");
  Fixture low(R"({"min_score": 0.3})");
  CHECK(low.found("sha wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

TEST_CASE("phone look-alikes are ruled out before the phone matcher, real numbers are not") {
  PhoneValidator phone({"US", "GB", "DE", "FR"});
  for (const char* not_phone : {"2024-08-04", "1999-12-28", "3452-530931-85619", "360639183"}) {
    INFO(not_phone);
    CHECK_FALSE(phone.valid(not_phone));
  }
  for (const char* number : {"(415) 555-2671", "+44 20 7946 0958", "+49 30 12345678", "+33 1 54 56 14 84"}) {
    INFO(number);
    CHECK(phone.valid(number));
  }
}

TEST_CASE("actions: numbered placeholders per value, mask, salted hash, deny and flag") {
  Fixture f(R"({"actions": {"phone": "mask", "ipv4": "hash", "us_ssn": "deny", "iban": "flag"}, "hash_salt": "s1"})");
  PlaceholderBook book;
  Outcome o;
  std::string out = f.unary("a@x.io, b@x.io, a@x.io call 415-555-2671 from 10.1.2.3", book, &o);
  CHECK(out.find("<EMAIL_1>, <EMAIL_2>, <EMAIL_1> call ***-***-2671 from <IP_ADDRESS_") == 0);
  CHECK(out.size() == std::string("<EMAIL_1>, <EMAIL_2>, <EMAIL_1> call ***-***-2671 from <IP_ADDRESS_0123456789abcdef>").size());
  CHECK(o.changed);
  CHECK_FALSE(o.denied);
  Fixture other(R"({"actions": {"ipv4": "hash"}, "hash_salt": "s2"})");
  PlaceholderBook b2;
  CHECK(other.unary("from 10.1.2.3", b2) != f.unary("from 10.1.2.3", book));  // the salt matters

  Outcome denied;
  f.unary("ssn 536-22-1234", book, &denied);
  CHECK(denied.denied);
  CHECK(denied.deny_label == "US_SSN");
  Outcome flagged;
  CHECK(f.unary("iban DE89370400440532013000", book, &flagged) == "iban DE89370400440532013000");
  CHECK(flagged.flagged);
  CHECK_FALSE(flagged.changed);
}

TEST_CASE("reversible: request placeholders come back as the caller's values, the answer's own do not") {
  Fixture f(R"({"reversible": true})");
  PlaceholderBook book;
  std::vector<Detection> found;
  const std::string prompt = "mail jane@corp.example about 4111111111111111";
  REQUIRE(f.settings.detector->detect(f.scanner, prompt, &found).empty());
  std::string sent;
  Outcome o;
  Redactor(*f.settings.detector, f.settings.request_policy).apply(prompt, 0, 0, prompt.size(), found, book, true, &sent, &o);
  CHECK(sent == "mail <EMAIL_1> about <CREDIT_CARD_1>");
  // The answer quotes the placeholders and adds an address of its own.
  const std::string answer = "Sent to <EMAIL_1> (card <CREDIT_CARD_1>); cc bob@corp.example";
  CHECK(f.unary(answer, book) == "Sent to jane@corp.example (card 4111111111111111); cc <EMAIL_2>");
  for (size_t split = 0; split <= answer.size(); ++split) {
    PlaceholderBook copy = book;
    CHECK(f.streamed({answer.substr(0, split), answer.substr(split)}, copy) ==
          "Sent to jane@corp.example (card 4111111111111111); cc <EMAIL_2>");
  }
}

TEST_CASE("a streamed answer redacts byte for byte as the whole answer does, at every split point") {
  for (const char* config : {"{}", R"({"reversible": true, "action": "mask"})", R"({"action": "hash"})"}) {
    INFO(config);
    Fixture f(config);
    for (const std::string& text : kCorpus) {
      INFO(text);
      PlaceholderBook b0;
      const std::string whole = f.unary(text, b0);
      // Two chunks, cut at every byte.
      for (size_t split = 0; split <= text.size(); ++split) {
        PlaceholderBook b;
        REQUIRE(f.streamed({text.substr(0, split), text.substr(split)}, b) == whole);
      }
      // One byte at a time, and random cuts.
      std::vector<std::string> bytes;
      for (char c : text) bytes.emplace_back(1, c);
      PlaceholderBook b1;
      CHECK(f.streamed(bytes, b1) == whole);
      std::mt19937 rng(7);
      for (int round = 0; round < 50; ++round) {
        std::vector<std::string> pieces;
        for (size_t at = 0; at < text.size();) {
          size_t n = std::min<size_t>(text.size() - at, 1 + rng() % 12);
          pieces.push_back(text.substr(at, n));
          at += n;
        }
        PlaceholderBook b2;
        CHECK(f.streamed(pieces, b2) == whole);
      }
    }
  }
}

// The release point fell inside a 3- or 4-byte character (the bytes the validators look ahead
// are counted in bytes): the host refused the release as not UTF-8 and the stream failed.
TEST_CASE("every release of a streamed answer is whole UTF-8, cut one character a chunk") {
  Fixture f;
  for (const std::string text : {"ok \xF0\x9F\x91\x8D fine \xF0\x9F\x98\x80\xF0\x9F\x98\x80 done",
                                 "Price: 5\xE2\x82\xAC only, jane@corp.example \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E end",
                                 "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88",
                                 "caf\xC3\xA9 \xD0\x9F\xD1\x80\xD0\xB8 +44 20 7946 0958 \xF0\x9F\x91\x8D"}) {
    INFO(text);
    PlaceholderBook b0;
    const std::string whole = f.unary(text, b0);
    PlaceholderBook book;
    StreamRedactor s(*f.settings.detector, f.redactor, book, false);
    REQUIRE(s.start(f.scanner).empty());
    Outcome o;
    std::string all;
    size_t releases = 0;
    for (size_t at = 0; at < text.size();) {
      size_t n = 1;
      while (at + n < text.size() && (static_cast<uint8_t>(text[at + n]) & 0xC0) == 0x80) ++n;
      std::string out;
      REQUIRE(s.feed(f.scanner, text.substr(at, n), &out, &o).empty());
      CHECK(outrigger::validUtf8(out));
      releases += !out.empty();
      all += out;
      at += n;
    }
    std::string tail;
    REQUIRE(s.finish(f.scanner, &tail, &o).empty());
    CHECK(outrigger::validUtf8(tail));
    CHECK(all + tail == whole);
    CHECK(releases > 1);  // released along the way, not all at the end
  }
}

// Tool-call arguments were redacted as raw text: "Hi,\njane@..." took the escape's 'n' into
// the address and left a lone backslash, invalid JSON the Anthropic front then sent as {}.
TEST_CASE("JSON arguments are redacted string by string, decoded, and stay valid JSON") {
  Fixture f;
  PlaceholderBook book;
  Outcome o;
  // Values alone, without their keys as context (the plugin's own rewrite adds them).
  auto redact = [&](std::string_view, std::string_view text, std::string* out) {
    std::vector<Detection> found;
    REQUIRE(f.settings.detector->detect(f.scanner, text, &found).empty());
    f.redactor.apply(text, 0, 0, text.size(), found, book, false, out, &o);
    return true;
  };
  std::string out;
  REQUIRE(rewriteJsonStrings(R"({"body": "Hi,\njane@corp.example\tok", "n": [1, 2.50]})", redact, &out) == JsonRewrite::kDone);
  CHECK(out == R"({"body":"Hi,\n<EMAIL_1>\tok","n":[1,2.50]})");
  // A number that is a card becomes a string; a key is a string too; \u escapes are decoded.
  REQUIRE(rewriteJsonStrings(R"({"card": 4111111111111111, "bob.smith@corp.example": "\u0062ob.smith@corp.example"})", redact,
                             &out) == JsonRewrite::kDone);
  CHECK(out == R"({"card":"<CREDIT_CARD_1>","<EMAIL_2>":"<EMAIL_2>"})");
  // Nothing found: the text as it was, spacing and escapes included.
  const std::string plain = R"({ "q" : "caf\u00e9", "k": [true, null] })";
  REQUIRE(rewriteJsonStrings(plain, redact, &out) == JsonRewrite::kDone);
  CHECK(out == plain);
  // Not JSON (cut short, or not JSON at all): the caller redacts the text; nothing was counted.
  auto counted = [&] {
    uint64_t n = 0;
    for (uint64_t c : o.per_entity) n += c;
    return n;
  };
  const uint64_t detections = counted();
  CHECK(rewriteJsonStrings(R"({"to": "jane@corp.example")", redact, &out) == JsonRewrite::kNotJson);
  CHECK(rewriteJsonStrings("mail jane@corp.example", redact, &out) == JsonRewrite::kNotJson);
  CHECK(counted() == detections);
  // A rewrite that fails stops it.
  CHECK(rewriteJsonStrings(R"(["a"])", [](std::string_view, std::string_view, std::string*) { return false; }, &out) ==
        JsonRewrite::kStopped);
  // Each value is offered with the key it sits under (an array's elements with its member's);
  // keys with none. Deeper than 128 levels is still JSON here: nothing recurses.
  std::vector<std::string> seen;
  auto record = [&](std::string_view key, std::string_view text, std::string* out) {
    seen.push_back(std::string(key) + "=" + std::string(text));
    out->append(text);
    return true;
  };
  REQUIRE(rewriteJsonStrings(R"({"ssn": "1", "ids": ["2", 3], "in": {"k": "4"}, "after": "5"})", record, &out) ==
          JsonRewrite::kDone);
  CHECK(seen == std::vector<std::string>{"=ssn", "ssn=1", "=ids", "ids=2", "ids=3", "=in", "=k", "k=4", "=after", "after=5"});
  std::string deep = std::string(200, '[') + R"("x")" + std::string(200, ']');
  CHECK(rewriteJsonStrings(deep, record, &out) == JsonRewrite::kDone);
}

TEST_CASE("the stream holds back only what a match in progress needs") {
  Fixture f;
  PlaceholderBook book;
  StreamRedactor s(*f.settings.detector, f.redactor, book, false);
  REQUIRE(s.start(f.scanner).empty());
  std::string out;
  Outcome o;
  REQUIRE(s.feed(f.scanner, "The weather is fine today, thanks. ", &out, &o).empty());
  // Plain prose goes out at once but for its last word and two bytes (the word could still turn
  // into an address: "thanks@...").
  CHECK(out == "The weather is fine today, ");
  CHECK(s.held() == std::string("thanks. ").size());
  REQUIRE(s.feed(f.scanner, "Write to jane@exam", &out, &o).empty());
  CHECK(out.find("jane") == std::string::npos);  // a possible address stays back
  REQUIRE(s.feed(f.scanner, "ple.com now", &out, &o).empty());
  REQUIRE(s.finish(f.scanner, &out, &o).empty());
  CHECK(out == "The weather is fine today, thanks. Write to <EMAIL_1> now");
}

TEST_CASE("custom patterns and deny lists are entities with their own labels and actions") {
  Fixture f(R"({"entities": ["email"], "custom": [{"name": "employee_id", "pattern": "EMP-[0-9]{6}"}],
               "deny_lists": [{"name": "project", "label": "CODENAME", "terms": ["Blue Heron", "nightjar"]}],
               "actions": {"project": "redact"}})");
  PlaceholderBook book;
  CHECK(f.unary("EMP-123456 on blue heron and Nightjar; nightjars ok, x@y.io", book) ==
        "<EMPLOYEE_ID_1> on <CODENAME_1> and <CODENAME_2>; nightjars ok, <EMAIL_1>");
  CHECK_THROWS_WITH(parsePiiSettings(R"({"actions": {"passport": "deny"}})"), Catch::Contains("passport"));
  CHECK_THROWS_WITH(parsePiiSettings(R"({"custom": [{"name": "x", "pattern": "(unclosed"}]})"), Catch::Contains("(unclosed"));
  CHECK_THROWS_WITH(parsePiiSettings(R"({"phone_regions": ["QQ"]})"), Catch::Contains("QQ"));
}

// Only ASCII letters and digits were masked: a value in another script went out unchanged, though
// the verdict said it was redacted.
TEST_CASE("mask hides every character of a value outside ASCII too, keeping the trailing ones of a long one") {
  Fixture f(R"({"entities": ["email"], "deny_lists": [{"name": "codename", "terms": ["\u041a\u0440\u043e\u0442", "Z\u00fcrich Nord Gleis"]}],
               "actions": {"codename": "mask"}})");
  PlaceholderBook book;
  Outcome o;
  CHECK(f.unary("Agent \u041a\u0440\u043e\u0442 here", book, &o) == "Agent **** here");
  CHECK(o.changed);
  CHECK(f.unary("at Z\u00fcrich Nord Gleis", book) == "at ****** **** *leis");
}

// Tool results and JSON-mode answers are JSON text: a newline is the two bytes \n. The number
// after one was never found (the escape's letter read as part of a word), and an address after
// one was found with the letter ("njane@..."), so a reversible placeholder came back as njane's.
TEST_CASE("PII right after a JSON escape is found from its first character, whole text or streamed") {
  Fixture f;
  CHECK(f.found(R"({"body":"Hi,\n\nMy card is\n4111 1111 1111 1111\nThanks"})") == "4111 1111 1111 1111");
  CHECK(f.found(R"({"note":"Hi,\njane@corp.example"})") == "jane@corp.example");
  CHECK(f.found(R"(call\t415-555-2671 or\r\n536-22-1234)") == "415-555-2671|536-22-1234");
  CHECK(f.found(R"(nbsp\u00a04111111111111111)") == "4111111111111111");
  CHECK(f.found(R"(quoted \"jane@corp.example\")") == "jane@corp.example");
  // An escaped backslash, then the letter n: the digits follow a letter, as in "n4111...".
  CHECK(f.found(R"(path C:\\n4111111111111111)").empty());
  PlaceholderBook book;
  const std::string text = R"({"to":"ops","body":"Hi,\njane@corp.example\n4111 1111 1111 1111"})";
  const std::string redacted = f.unary(text, book);
  CHECK(redacted == R"({"to":"ops","body":"Hi,\n<EMAIL_1>\n<CREDIT_CARD_1>"})");
  for (size_t split = 0; split <= text.size(); ++split) {
    PlaceholderBook copy;
    CHECK(f.streamed({text.substr(0, split), text.substr(split)}, copy) == redacted);
  }
}

// Patterns match bytes: a custom one could end inside a character and leave a broken one behind,
// which the host refuses (the request failed, or with on_error = skip went out unredacted).
TEST_CASE("a custom pattern that ends inside a character redacts the whole character, and a mask_char may be any character") {
  Fixture f(R"({"entities": [], "custom": [{"name": "secret", "pattern": "secret=\\S{1,8}"}]})");
  PlaceholderBook book;
  const std::string text = "secret=abcdefg\u00e9 and secret=\u65e5\u672c\u8a9e\u306e\u5bc6 ok";
  const std::string out = f.unary(text, book);
  CHECK(outrigger::validUtf8(out));
  CHECK(out == "<SECRET_1> and <SECRET_2>\u306e\u5bc6 ok");  // 8 bytes end in the third character: it goes whole
  for (size_t split = 0; split <= text.size(); ++split) {
    PlaceholderBook copy;
    std::string streamed = f.streamed({text.substr(0, split), text.substr(split)}, copy);
    CHECK(outrigger::validUtf8(streamed));
    CHECK(streamed == out);
  }
  Fixture bullet(R"({"entities": ["credit_card"], "action": "mask", "mask_char": "\u2022"})");
  PlaceholderBook b2;
  CHECK(bullet.unary("card 4111 1111 1111 1111", b2) == "card \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022 1111");
}

TEST_CASE("a detector failure is an error, never an empty result") {
  Fixture f(R"({"fail_scans_for_test": true})");
  f.scanner.failForTest(true);
  std::vector<Detection> found;
  CHECK_THAT(f.settings.detector->detect(f.scanner, "a@b.io", &found), Catch::Contains("vectorscan error"));
  PlaceholderBook book;
  StreamRedactor s(*f.settings.detector, f.redactor, book, false);
  REQUIRE(s.start(f.scanner).empty());
  std::string out;
  Outcome o;
  CHECK_FALSE(s.feed(f.scanner, "a@b.io", &out, &o).empty());
  // Too many candidate matches fails the same way rather than scanning a part.
  Fixture small(R"({"max_candidates": 1000})");
  CHECK_THAT(small.settings.detector->detect(small.scanner, std::string(5000, '7'), &found), Catch::Contains("candidate"));
}
