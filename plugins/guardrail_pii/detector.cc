#include "detector.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <tuple>

#include "validators.h"

namespace outrigger::pii {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool in(char c, const char* set) { return c != 0 && std::strchr(set, c) != nullptr; }

const char kToken[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

// Digits next to a number: a letter or digit, a '-'/'.' that joins more digits on, or the
// number's own separator joining another group ("6448 4059 9695" of "6448 4059 9695 8074", or
// the digits inside "GB02 HATT 0291 4222 2103 06").
// `short_group_after`: what follows the separator is not a group of a longer number but a card's
// expiry (" 12/27").
bool digitBoundary(std::string_view span, char before2, char before, char after, char after2,
                   bool short_group_after = false) {
  if (isAlnum(before) || isAlnum(after)) return false;
  if (in(before, "-.") && isDigit(before2)) return false;
  if (in(after, "-.") && isDigit(after2)) return false;
  auto joins = [&](char sep, char next) {
    return sep != 0 && span.find(sep) != std::string_view::npos && (isDigit(next) || (next >= 'A' && next <= 'Z'));
  };
  return !joins(before, before2) && (short_group_after || !joins(after, after2));
}

// `after` starts with a separator, then a month and '/' ("12/27", "1/27"). Three digits could be a
// CVV, but also the last group of a 19-digit number grouped 4-4-4-4-3: that stays a join.
bool shortGroupAfter(std::string_view after) {
  size_t digits = 0;
  while (1 + digits < after.size() && isDigit(after[1 + digits])) ++digits;
  return digits >= 1 && digits <= 2 && 1 + digits < after.size() && after[1 + digits] == '/';
}

// The part of each validator that reads only the two bytes after a match (0 past the text):
// false rules the match out whatever its start.
bool endAllowed(Check check, char a1, char a2) {
  switch (check) {
    case Check::kEmail: return !isAlnum(a1) && !in(a1, "-_@");
    case Check::kPhone:
    case Check::kCard:
    case Check::kSsn: return !isAlnum(a1) && !(in(a1, "-.") && isDigit(a2));
    case Check::kIban:
    case Check::kAwsKeyId:
    case Check::kTerm: return !isAlnum(a1);
    case Check::kIpv4: return !isAlnum(a1) && !(a1 == '.' && isDigit(a2));
    case Check::kIpv6: return !isAlnum(a1) && a1 != ':';
    case Check::kOpenAi:
    case Check::kAnthropic:
    case Check::kGithub:
    case Check::kSlack:
    case Check::kGoogle:
    case Check::kJwt: return !in(a1, kToken);
    case Check::kAwsSecret: return !isAlnum(a1) && !in(a1, "/+=");
    case Check::kNone:
    case Check::kPrivateKey: return true;
  }
  return true;
}

bool isHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// How many bytes from `pos` on finish an escape that began before it (0: none): text that is
// JSON (a tool's result, a JSON-mode answer) writes a newline as the two bytes `\n` and a
// character as `\u00a0`. A match that starts inside one starts after it ("\njane@corp.example"
// is jane's address, not njane's), and its end is a boundary, as a space is ("\n4111 ...").
// A backslash starts an escape when an odd run of them ends at it (`\\n` is a backslash, then n);
// the run is counted within kLookbehind bytes, as every decision reads no further back.
size_t escapeTail(std::string_view text, size_t pos) {
  size_t slash = pos;
  for (size_t k = 1; k <= 5 && k <= pos; ++k) {
    if (text[pos - k] == '\\') {
      slash = pos - k;
      break;
    }
  }
  if (slash == pos) return 0;
  size_t run = 1;
  while (run < Detector::kLookbehind && run <= slash && text[slash - run] == '\\') ++run;
  if (run % 2 == 0 || slash + 1 >= text.size()) return 0;
  const char c = text[slash + 1];
  if (in(c, "\"\\/bfnrt")) return pos == slash + 1 ? 1 : 0;
  if (c != 'u' || slash + 6 > text.size()) return 0;
  for (size_t i = slash + 2; i < slash + 6; ++i) {
    if (!isHex(text[i])) return 0;
  }
  return pos < slash + 6 ? slash + 6 - pos : 0;
}

// A context word as a whole word ("tel" is not in "television"; a plural "s" may follow).
bool containsWord(std::string_view lowered, const std::vector<std::string>& words) {
  auto letter = [](char c) { return c >= 'a' && c <= 'z'; };
  for (const std::string& w : words) {
    for (size_t at = lowered.find(w); at != std::string_view::npos; at = lowered.find(w, at + 1)) {
      size_t end = at + w.size();
      if (end < lowered.size() && lowered[end] == 's') ++end;
      if ((at == 0 || !letter(lowered[at - 1])) && (end >= lowered.size() || !letter(lowered[end]))) return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<const Detector> Detector::build(DetectorSettings settings, std::string* error) {
  std::shared_ptr<Detector> d(new Detector(std::move(settings)));
  std::vector<PatternSource> sources;
  for (const PatternSpec& p : d->settings_.patterns) {
    sources.push_back(p.source);
    const EntitySpec& e = d->settings_.entities[p.entity];
    if (p.after_raise_word && !e.raise.empty() && e.score + p.score_delta < d->settings_.min_score) {
      // Below min_score without a raise word in the kLookbehind bytes before it: a match
      // without one is never reported, so the one pass need not report it either.
      std::string words;
      for (const std::string& w : e.raise) words += (words.empty() ? "" : "|") + literalExpression(w);
      sources.back().after = "(?i:" + words + ")";
      sources.back().after_within = kLookbehind;
    }
  }
  d->db_ = PatternDatabase::compile(sources, &d->max_widths_, error);
  if (!d->db_) return nullptr;
  for (size_t i = 0; i < d->settings_.patterns.size(); ++i) {
    const PatternSpec& p = d->settings_.patterns[i];
    if (p.max_length) d->max_widths_[i] = std::min(d->max_widths_[i], p.max_length);
    if (d->max_widths_[i] == UINT32_MAX) {
      *error = "pattern '" + p.source.expression + "' has no longest match: give it a max_length";
      return nullptr;
    }
    d->max_window_ = std::max<uint64_t>(d->max_window_, uint64_t{d->max_widths_[i]} + 1);
    std::array<bool, 256> alphabet{};
    for (unsigned char c : p.alphabet) alphabet[c] = true;
    d->alphabets_.push_back(std::move(alphabet));
  }
  d->findSuffixPatterns();
  return d;
}

std::string Detector::detect(Scanner& scanner, std::string_view text, std::vector<Detection>* out) const {
  std::vector<Match> ends, matches;
  if (std::string err = scanner.scan(text, &ends); !err.empty()) return err;
  out->clear();
  if (ends.empty()) return {};  // most texts: nothing to locate or confirm
  if (std::string err = locate(scanner, text, 0, ends, &matches); !err.empty()) return err;
  *out = confirm(text, 0, matches, 0, text.size());
  resolveOverlaps(out);
  return {};
}

std::string Detector::locate(Scanner& scanner, std::string_view text, uint64_t base, const std::vector<Match>& ends,
                             std::vector<Match>* out) const {
  struct Event {
    uint32_t pattern;
    uint64_t window, end;
  };
  std::vector<Event> events;
  events.reserve(ends.size());
  for (const Match& m : ends) {
    // The bytes after an end can rule a match out whatever its start: no need to find it.
    const uint64_t after = m.to - base;
    const Check check = settings_.entities[settings_.patterns[m.pattern].entity].check;
    if (after + 2 <= text.size() && !endAllowed(check, text[after], text[after + 1])) continue;
    const uint64_t reach = uint64_t{max_widths_[m.pattern]} + 1;
    uint64_t window = m.to > base + reach ? m.to - reach : base;
    if (settings_.patterns[m.pattern].live == Live::kAlphabet) {
      const auto& alphabet = alphabets_[m.pattern];
      uint64_t at = m.to;
      while (at > window && alphabet[static_cast<unsigned char>(text[at - 1 - base])]) --at;
      window = at;
    }
    events.push_back({m.pattern, window, m.to});
  }
  if (events.empty()) return {};
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.pattern, a.window, a.end) < std::tie(b.pattern, b.window, b.end);
  });
  // One scan per pattern and window: the ends of one run of its characters share it.
  std::vector<uint64_t> group;
  for (size_t i = 0; i < events.size();) {
    size_t j = i;
    group.clear();
    while (j < events.size() && events[j].pattern == events[i].pattern && events[j].window == events[i].window) {
      if (group.empty() || group.back() != events[j].end) group.push_back(events[j].end);
      ++j;
    }
    const uint64_t from = events[i].window, to = group.back();
    if (std::string err = scanner.locate(events[i].pattern, text.substr(from - base, to - from), from, group, out); !err.empty()) {
      return err;
    }
    i = j;
  }
  return {};
}

std::vector<Detection> Detector::confirm(std::string_view text, uint64_t base, const std::vector<Match>& matches,
                                         uint64_t lo, uint64_t hi) const {
  std::vector<const Match*> order;
  for (const Match& m : matches) {
    if (m.from >= lo && m.from < hi) order.push_back(&m);
  }
  // By pattern and start, longest first: the first confirmed end of a group wins.
  std::sort(order.begin(), order.end(), [](const Match* a, const Match* b) {
    if (a->pattern != b->pattern) return a->pattern < b->pattern;
    if (a->from != b->from) return a->from < b->from;
    return a->to > b->to;
  });
  std::vector<Detection> out;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && order[j]->pattern == order[i]->pattern && order[j]->from == order[i]->from) ++j;
    for (size_t k = i; k < j; ++k) {
      const uint64_t from = order[k]->from + escapeTail(text, order[k]->from - base);
      if (from >= order[k]->to) continue;
      double score = judge(text, base, order[k]->pattern, from, order[k]->to);
      if (score >= settings_.min_score) {
        // Patterns match bytes: `\S{1,8}` may end inside a character. The detection takes the
        // whole character, so what replaces it leaves whole UTF-8 (the host refuses anything else).
        auto continuation = [&](uint64_t at) { return (static_cast<uint8_t>(text[at - base]) & 0xC0) == 0x80; };
        uint64_t start = from, end = order[k]->to;
        while (start > base && continuation(start)) --start;
        while (end - base < text.size() && continuation(end)) ++end;
        out.push_back({start, end, settings_.patterns[order[k]->pattern].entity, score});
        break;
      }
    }
    i = j;
  }
  return out;
}

void Detector::resolveOverlaps(std::vector<Detection>* detections) {
  auto& d = *detections;
  std::sort(d.begin(), d.end(), [](const Detection& a, const Detection& b) {
    if (a.from != b.from) return a.from < b.from;
    if (a.to != b.to) return a.to > b.to;
    if (a.score != b.score) return a.score > b.score;
    return a.entity < b.entity;
  });
  std::vector<Detection> kept;
  for (const Detection& x : d) {
    if (!kept.empty() && x.from < kept.back().to) {
      const Detection& k = kept.back();
      if (x.to - x.from > k.to - k.from || (x.to - x.from == k.to - k.from && x.score > k.score)) kept.back() = x;
      continue;
    }
    kept.push_back(x);
  }
  d = std::move(kept);
}

double Detector::judge(std::string_view text, uint64_t base, uint32_t pattern, uint64_t from, uint64_t to) const {
  const PatternSpec& p = settings_.patterns[pattern];
  const EntitySpec& e = settings_.entities[p.entity];
  const size_t f = from - base, t = to - base;
  if (t - f > max_widths_[pattern]) return -1;
  const std::string_view span = text.substr(f, t - f);
  // The score first: context words cost a few short searches, a validator (libphonenumber above
  // all) far more, and a match its context leaves below min_score needs no validating.
  double score = e.score + p.score_delta;
  if (e.check == Check::kOpenAi && span.find("T3BlbkFJ") == std::string_view::npos) score -= 0.25;  // every OpenAI key carries it
  score = std::min(score + contextDelta(text.substr(0, f), e), 1.0);
  if (score < settings_.min_score) return -1;
  auto at = [&](size_t i, ptrdiff_t delta) -> char {
    ptrdiff_t k = static_cast<ptrdiff_t>(i) + delta;
    return k >= 0 && static_cast<size_t>(k) < text.size() ? text[static_cast<size_t>(k)] : 0;
  };
  // After an escape (`\n`, `\u00a0`) the match begins as after a space.
  const bool after_escape = f > 0 && escapeTail(text, f - 1) == 1;
  return validates(e.check, span, after_escape ? ' ' : at(f, -2), after_escape ? ' ' : at(f, -1),
                   text.substr(t, Detector::kLookahead))
             ? score
             : -1;
}

double Detector::contextDelta(std::string_view before_match, const EntitySpec& e) {
  if (e.raise.empty() && e.lower.empty()) return 0;
  // The context is the current sentence, up to kLookbehind bytes back: a word that closed the
  // previous sentence says nothing about this value.
  const size_t n = std::min(before_match.size(), kLookbehind);
  char lowered[kLookbehind];
  for (size_t i = 0; i < n; ++i) {
    const char c = before_match[before_match.size() - n + i];
    lowered[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view before(lowered, n);
  for (size_t i = before.size(); i-- > 1;) {
    if (before[i] == '\n' || (before[i] == ' ' && std::strchr(".!?", before[i - 1]))) {
      before.remove_prefix(i + 1);
      break;
    }
  }
  double delta = 0;
  if (containsWord(before, e.raise)) delta += 0.35;
  if (containsWord(before, e.lower)) delta -= 0.4;
  return delta;
}

bool Detector::validates(Check check, std::string_view span, char b2, char b1, std::string_view after) const {
  const char a1 = after.size() > 0 ? after[0] : 0, a2 = after.size() > 1 ? after[1] : 0;
  if (!endAllowed(check, a1, a2)) return false;
  switch (check) {
    case Check::kNone: return true;
    case Check::kEmail: return !in(b1, "._%+-") && !isAlnum(b1) && emailValid(span);
    case Check::kPhone: return b1 != '+' && digitBoundary(span, b2, b1, a1, a2) && phone_.valid(span);
    case Check::kCard: return digitBoundary(span, b2, b1, a1, a2, shortGroupAfter(after)) && cardValid(span);
    case Check::kIban: return !isAlnum(b1) && ibanValid(span);
    case Check::kSsn: return digitBoundary(span, b2, b1, a1, a2) && ssnValid(span);
    case Check::kIpv4: return !isAlnum(b1) && b1 != '.' && ipv4Valid(span);
    case Check::kIpv6: return !isAlnum(b1) && !in(b1, ":.") && ipv6Valid(span);
    case Check::kOpenAi: return !in(b1, kToken) && span.rfind("sk-ant-", 0) != 0 && mixedCharset(span);
    case Check::kAnthropic:
    case Check::kGithub:
    case Check::kSlack:
    case Check::kGoogle: return !in(b1, kToken);
    case Check::kAwsKeyId: return !isAlnum(b1);
    case Check::kAwsSecret: return !isAlnum(b1) && !in(b1, "/+=") && mixedCharset(span);
    case Check::kJwt: return !in(b1, kToken) && jwtValid(span);
    case Check::kPrivateKey: return true;
    case Check::kTerm: return !isAlnum(b1);
  }
  return false;
}

void Detector::findSuffixPatterns() {
  // A pattern whose alphabet holds another's, with a longest match at least as long, always
  // has the longer live run: the other need not be measured.
  auto dominates = [&](size_t a, size_t b) {
    if (max_widths_[a] < max_widths_[b]) return false;
    for (size_t c = 0; c < 256; ++c) {
      if (alphabets_[b][c] && !alphabets_[a][c]) return false;
    }
    return true;
  };
  const auto& patterns = settings_.patterns;
  for (size_t i = 0; i < patterns.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; patterns[i].live == Live::kAlphabet && j < patterns.size() && !dominated; ++j) {
      // Of two that dominate each other (same alphabet and width), the first is kept.
      dominated = j != i && patterns[j].live == Live::kAlphabet && dominates(j, i) && (j < i || !dominates(i, j));
    }
    if (!dominated) suffix_patterns_.push_back(static_cast<uint32_t>(i));
  }
}

uint64_t Detector::liveSuffix(std::string_view text) const {
  uint64_t live = 0;
  for (uint32_t i : suffix_patterns_) {
    const uint64_t width = max_widths_[i];
    uint64_t run = 0;
    switch (settings_.patterns[i].live) {
      case Live::kAlphabet: {
        const auto& alphabet = alphabets_[i];
        while (run < text.size() && run < width && alphabet[static_cast<unsigned char>(text[text.size() - 1 - run])]) ++run;
        break;
      }
      case Live::kWidth: run = std::min<uint64_t>(width, text.size()); break;
      case Live::kPem: {
        static constexpr std::string_view kBegin = "-----BEGIN ";
        const size_t window = text.size() > width ? text.size() - width : 0;
        // The first block still open in the window (no "-----END " + "KEY-----" after it) ...
        for (size_t at = text.find(kBegin, window); at != std::string_view::npos; at = text.find(kBegin, at + 1)) {
          size_t end = text.find("-----END ", at + kBegin.size());
          if (end == std::string_view::npos || text.find("KEY-----", end) == std::string_view::npos) {
            run = text.size() - at;
            break;
          }
        }
        // ... or the start of one being written.
        const bool may_begin = !text.empty() && kBegin.find(text.back()) != std::string_view::npos;
        for (size_t k = std::min(kBegin.size() - 1, text.size()); may_begin && run == 0 && k > 0; --k) {
          if (text.substr(text.size() - k) == kBegin.substr(0, k)) run = k;
        }
        break;
      }
    }
    live = std::max(live, run);
  }
  return live;
}

}  // namespace outrigger::pii
