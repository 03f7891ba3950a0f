// Label values on /metrics: escaped as the text format wants, always valid UTF-8 (one bad byte
// makes Prometheus reject the whole scrape), and cut between characters where they are bounded:
// an upstream's model name and a caller's prompt id.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "common/prometheus_label.h"
#include "common/utf8.h"
#include "resilience/upstream_identity.h"
#include "traces/drift_output.h"

using namespace outrigger;

TEST_CASE("prometheus label: backslash, quote and newline are escaped, and valid UTF-8 passes unchanged") {
  CHECK(escapePrometheusLabel("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  std::string text = "Gr\xC3\xBC\xC3\x9F" "e \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x8C\x8D";
  CHECK(escapePrometheusLabel(text) == text);
}

TEST_CASE("prometheus label: invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart") {
  CHECK(escapePrometheusLabel("a\x80" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(escapePrometheusLabel(std::string(127, 'm') + "\xC3") == std::string(127, 'm') + "\xEF\xBF\xBD");
  CHECK(escapePrometheusLabel("\xE2\x82\"") == "\xEF\xBF\xBD\\\"");
  CHECK(escapePrometheusLabel("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  CHECK(escapePrometheusLabel("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");              // an overlong '/'
}

TEST_CASE("prometheus label: random bytes come out as utf8Replaced repairs them, and valid") {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 24, '\0');
    for (char& c : bytes) {
      c = static_cast<char>(rng() % 256);
      if (c == '\\' || c == '"' || c == '\n') c = 'x';  // escapes aside, the two must agree
    }
    INFO(round);
    std::string escaped = escapePrometheusLabel(bytes);
    CHECK(escaped == utf8Replaced(bytes));
    CHECK(validUtf8(escaped));
  }
}

TEST_CASE("prometheus label: a prefix never ends inside a character and is never longer than asked") {
  std::string name = std::string(127, 'm') + "\xC3\xA9";  // 'é' across byte 128
  CHECK(labelPrefix(name, 128) == std::string(127, 'm'));
  CHECK(labelPrefix(name, 129) == name);
  std::string emoji = std::string(126, 'm') + "\xF0\x9F\x8C\x8D";
  CHECK(labelPrefix(emoji, 128) == std::string(126, 'm'));
  CHECK(labelPrefix(std::string(300, '\x80'), 128).size() <= 128);  // not UTF-8: bounded all the same
  CHECK(labelPrefix("short", 128) == "short");
}

TEST_CASE("prometheus label: an upstream's 127-byte model name ending in a two-byte character is kept whole or cut before it") {
  resilience::UpstreamIdentity id;
  (void)id.observe("m", std::string(127, 'm') + "\xC3\xA9" + "-2025", "");
  std::string model = id.snapshot().model;
  CHECK(model == std::string(127, 'm'));
  CHECK(validUtf8(escapePrometheusLabel(model)));
}

TEST_CASE("prometheus label: a caller's long prompt id is cut between characters in the drift gauges") {
  traces::DriftReport r;
  traces::DriftGroup g;
  g.route = "r";
  g.prompt = std::string(127, 'p') + "\xC3\xA9" + "@v2";
  r.groups.push_back(g);
  std::string metrics = traces::driftPrometheus(r);
  CHECK(validUtf8(metrics));
  CHECK(metrics.find("prompt=\"" + std::string(127, 'p') + "\"") != std::string::npos);
}
