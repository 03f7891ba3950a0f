#include "redaction.h"

#include <openssl/sha.h>

#include <cctype>

namespace outrigger::pii {
namespace {

constexpr size_t kMaxPlaceholder = 64;

bool placeholderChar(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

}  // namespace

bool parseAction(std::string_view name, Action* out) {
  static const std::pair<std::string_view, Action> kNames[] = {
      {"redact", Action::kRedact}, {"mask", Action::kMask}, {"hash", Action::kHash}, {"deny", Action::kDeny}, {"flag", Action::kFlag}};
  for (const auto& [n, a] : kNames) {
    if (n == name) {
      *out = a;
      return true;
    }
  }
  return false;
}

const char* actionName(Action action) {
  static const char* const kNames[] = {"redact", "mask", "hash", "deny", "flag"};
  return kNames[static_cast<int>(action)];
}

std::string PlaceholderBook::placeholder(const std::string& label, std::string_view value, bool restorable) {
  std::string key = label;
  key.push_back('\0');
  key.append(value);
  auto it = by_value_.find(key);
  if (it != by_value_.end()) return it->second;
  std::string p = "<" + label + "_" + std::to_string(++next_[label]) + ">";
  by_value_.emplace(std::move(key), p);
  if (restorable) originals_.emplace(p, std::string(value));
  return p;
}

const std::string* PlaceholderBook::original(std::string_view placeholder) const {
  auto it = originals_.find(std::string(placeholder));
  return it == originals_.end() ? nullptr : &it->second;
}

void Outcome::add(const Outcome& other) {
  changed = changed || other.changed;
  flagged = flagged || other.flagged;
  if (other.denied && !denied) {
    denied = true;
    deny_label = other.deny_label;
  }
  if (per_entity.size() < other.per_entity.size()) per_entity.resize(other.per_entity.size());
  for (size_t i = 0; i < other.per_entity.size(); ++i) per_entity[i] += other.per_entity[i];
}

void Redactor::apply(std::string_view text, uint64_t base, uint64_t from, uint64_t to,
                     const std::vector<Detection>& detections, PlaceholderBook& book, bool restorable, std::string* out,
                     Outcome* outcome) const {
  if (outcome->per_entity.size() < detector_.entityCount()) outcome->per_entity.resize(detector_.entityCount());
  uint64_t at = from;
  for (const Detection& d : detections) {
    if (d.from < from || d.to > to) continue;
    out->append(text.substr(at - base, d.from - at));
    const std::string_view value = text.substr(d.from - base, d.to - d.from);
    const EntitySpec& e = detector_.entity(d.entity);
    ++outcome->per_entity[d.entity];
    switch (policy_.actions[d.entity]) {
      case Action::kRedact: out->append(book.placeholder(e.label, value, restorable)); break;
      case Action::kMask: out->append(mask(value)); break;
      case Action::kHash: out->append(hash(e.label, value)); break;
      case Action::kDeny:
        if (!outcome->denied) outcome->deny_label = e.label;
        outcome->denied = true;
        out->append(value);
        break;
      case Action::kFlag:
        outcome->flagged = true;
        out->append(value);
        break;
    }
    const Action a = policy_.actions[d.entity];
    if (a == Action::kRedact || a == Action::kMask || a == Action::kHash) outcome->changed = true;
    at = d.to;
  }
  out->append(text.substr(at - base, to - at));
}

// A character of `value` from byte `i`: its length, and whether a mask hides it (a letter or digit,
// or any character outside ASCII: "Крот" and "Zürich" are masked whole, not their ASCII bytes).
static size_t maskUnit(std::string_view value, size_t i, bool* hidden) {
  unsigned char c = static_cast<unsigned char>(value[i]);
  if (c < 0x80) {
    *hidden = std::isalnum(c) != 0;
    return 1;
  }
  *hidden = true;
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  return std::min(len, value.size() - i);
}

std::string Redactor::mask(std::string_view value) const {
  size_t hidden_units = 0;
  for (size_t i = 0; i < value.size();) {
    bool hidden = false;
    i += maskUnit(value, i, &hidden);
    hidden_units += hidden;
  }
  const size_t keep = hidden_units > policy_.mask_keep * 2 ? policy_.mask_keep : 0;  // short values: mask all
  std::string out;
  out.reserve(value.size());
  size_t seen = 0;
  for (size_t i = 0; i < value.size();) {
    bool hidden = false;
    size_t len = maskUnit(value, i, &hidden);
    if (hidden && seen++ < hidden_units - keep) out.append(policy_.mask_char);
    else out.append(value.substr(i, len));
    i += len;
  }
  return out;
}

std::string Redactor::hash(const std::string& label, std::string_view value) const {
  std::string input = policy_.hash_salt;
  input.append(value);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out = "<" + label + "_";
  for (int i = 0; i < 8; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  out.push_back('>');
  return out;
}

std::string restorePlaceholders(std::string_view text, const PlaceholderBook& book) {
  if (book.restorableCount() == 0) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (size_t lt = text.find('<'); lt != std::string_view::npos; lt = text.find('<', lt + 1)) {
    size_t end = lt + 1;
    while (end < text.size() && end - lt < kMaxPlaceholder && placeholderChar(text[end])) ++end;
    if (end >= text.size() || text[end] != '>') continue;
    const std::string* original = book.original(text.substr(lt, end + 1 - lt));
    if (!original) continue;
    out.append(text.substr(at, lt - at));
    out.append(*original);
    at = end + 1;
    lt = end;
  }
  out.append(text.substr(at));
  return out;
}

size_t placeholderPrefix(std::string_view text) {
  size_t lt = text.rfind('<');
  if (lt == std::string_view::npos || text.size() - lt >= kMaxPlaceholder) return 0;
  for (size_t i = lt + 1; i < text.size(); ++i) {
    if (!placeholderChar(text[i])) return 0;
  }
  return text.size() - lt;
}

}  // namespace outrigger::pii
