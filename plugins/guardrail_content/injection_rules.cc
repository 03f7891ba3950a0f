#include "injection_rules.h"

#include <hs/hs.h>
#include <toml++/toml.h>

#include "vectorscan_runtime.h"

#include <cstdio>
#include <stdexcept>

namespace outrigger::content {
namespace {

// Structural signals, scored like rules. An invisible character inside a word or a run of tag
// characters has almost no honest use in a prompt; a decoded block or a bidi control often does.
struct Signal {
  const char* name;
  double score;
};
constexpr Signal kInvisible{"hidden-characters", 0.45};
constexpr Signal kTags{"tag-characters", 0.8};
constexpr Signal kBidi{"bidi-controls", 0.3};
constexpr Signal kDecoded{"encoded-text", 0.2};
constexpr Signal kInvisibleRun{"invisible-run", 0.7};
constexpr Signal kSelectors{"variation-selector-text", 0.8};

void add(Assessment* out, std::string rule, std::string category, double score, bool hidden) {
  out->findings.push_back({std::move(rule), std::move(category), score, hidden});
}

}  // namespace

std::vector<Rule> parseRules(std::string_view toml_text, std::string_view origin) {
  toml::table doc;
  try {
    doc = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error(std::string(origin) + ": " + std::string(e.description()));
  }
  std::vector<Rule> rules;
  const toml::array* list = doc["rule"].as_array();
  if (!list) throw std::runtime_error(std::string(origin) + ": no [[rule]] entries");
  for (const toml::node& node : *list) {
    const toml::table* t = node.as_table();
    Rule r;
    if (t) {
      r.name = (*t)["name"].value_or(std::string());
      r.category = (*t)["category"].value_or(std::string("custom"));
      r.score = (*t)["score"].value_or(0.0);
      r.pattern = (*t)["pattern"].value_or(std::string());
    }
    if (r.name.empty() || r.pattern.empty() || !(r.score > 0 && r.score <= 1)) {
      throw std::runtime_error(std::string(origin) + ": rule " + std::to_string(rules.size() + 1) +
                               " needs a name, a pattern and a score in (0, 1]");
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

InjectionScanner::InjectionScanner(std::vector<Rule> rules) : rules_(std::move(rules)) {
  if (rules_.empty()) return;
  std::vector<const char*> expressions;
  std::vector<unsigned> flags, ids;
  for (size_t i = 0; i < rules_.size(); ++i) {
    expressions.push_back(rules_[i].pattern.c_str());
    // One report per rule and scan; ^ and $ at line breaks too.
    flags.push_back(HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_MULTILINE);
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* err = nullptr;
  hs_platform_info_t platform = vectorscan::compilePlatform();
  if (hs_compile_multi(expressions.data(), flags.data(), ids.data(), static_cast<unsigned>(rules_.size()), HS_MODE_BLOCK,
                       &platform, &database_, &err) != HS_SUCCESS) {
    const std::string what = err && err->expression >= 0 ? "rule " + rules_[static_cast<size_t>(err->expression)].name
                                                          : std::string("the injection rules");
    const std::string why = err && err->message ? err->message : "unknown error";
    hs_free_compile_error(err);
    throw std::runtime_error(what + " does not compile: " + why);
  }
  if (hs_alloc_scratch(database_, &scratch_) != HS_SUCCESS) {
    hs_free_database(database_);
    throw std::runtime_error("no scratch space for the injection rules");
  }
}

InjectionScanner::~InjectionScanner() {
  hs_free_scratch(scratch_);
  hs_free_database(database_);
}

bool InjectionScanner::matchInto(std::string_view text, bool hidden, std::vector<bool>* seen, Assessment* out) const {
  if (!database_ || text.empty()) return true;
  std::vector<unsigned> hits;
  auto onMatch = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
    static_cast<std::vector<unsigned>*>(ctx)->push_back(id);
    return 0;
  };
  // The build that scans is chosen in vectorscan_runtime.h (one of Debian's misses matches).
  if (vectorscan::runtime().scan(database_, text.data(), static_cast<unsigned>(text.size()), 0, scratch_, onMatch,
                                 &hits) != HS_SUCCESS) {
    out->error = "rule engine failed";
    return false;
  }
  for (unsigned i : hits) {
    if ((*seen)[i]) continue;
    (*seen)[i] = true;
    const Rule& r = rules_[i];
    add(out, r.name, r.category, r.score, hidden);
  }
  return true;
}

Assessment InjectionScanner::assess(std::string_view text) const {
  Assessment out;
  const TextSignals signals = readSignals(text);
  std::vector<bool> seen(rules_.size(), false);
  if (!matchInto(signals.visible, false, &seen, &out)) return out;
  for (const std::string& h : signals.hidden) {
    if (!matchInto(h, true, &seen, &out)) return out;
  }
  if (signals.invisible_between_letters) add(&out, kInvisible.name, "hidden", kInvisible.score, false);
  if (signals.invisible_runs) add(&out, kInvisibleRun.name, "hidden", kInvisibleRun.score, false);
  if (signals.selector_runs) add(&out, kSelectors.name, "hidden", kSelectors.score, false);
  if (signals.tag_characters) add(&out, kTags.name, "hidden", kTags.score, false);
  if (signals.bidi_controls) add(&out, kBidi.name, "hidden", kBidi.score, false);
  if (signals.decoded_blocks) add(&out, kDecoded.name, "encoded", kDecoded.score, false);
  double pass = 1;
  for (const Finding& f : out.findings) pass *= 1 - f.score;
  out.score = 1 - pass;
  return out;
}

std::string Assessment::summary() const {
  char head[32];
  std::snprintf(head, sizeof head, "%.2f", score);
  std::string s = head;
  for (size_t i = 0; i < findings.size(); ++i) {
    s += (i ? ", " : ": ") + findings[i].rule + " (" + findings[i].category + (findings[i].in_hidden_text ? ", hidden" : "") + ")";
  }
  return s;
}

}  // namespace outrigger::content
