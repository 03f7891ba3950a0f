#include "resilience/upstream_identity.h"

#include <functional>

#include "common/prometheus_label.h"

namespace outrigger::resilience {
namespace {

uint64_t hashOf(std::string_view v) {
  uint64_t h = std::hash<std::string_view>{}(v);
  return h ? h : 1;  // 0 means "nothing seen yet"
}

}  // namespace

void UpstreamIdentity::observeField(Field& f, const char* kind, std::string_view value, std::vector<Change>* out) {
  if (value.empty()) return;
  value = labelPrefix(value, kMaxValueBytes);  // a cut character would be invalid text
  uint64_t h = hashOf(value);
  if (f.hash.load(std::memory_order_acquire) == h) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::string printable(value);
  for (char& c : printable) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // an upstream cannot forge log lines
  }
  if (f.value == printable) return;  // another thread recorded it first (or a hash collision)
  if (!f.value.empty()) {
    out->push_back({kind, f.value, printable});
    ++f.changes;
  }
  f.value = std::move(printable);
  f.hash.store(h, std::memory_order_release);
}

std::vector<UpstreamIdentity::Change> UpstreamIdentity::observe(std::string_view model, std::string_view fingerprint) {
  std::vector<Change> changes;
  observeField(model_, "model", model, &changes);
  observeField(fingerprint_, "system_fingerprint", fingerprint, &changes);
  return changes;
}

UpstreamIdentity::Snapshot UpstreamIdentity::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {model_.value, fingerprint_.value, model_.changes, fingerprint_.changes};
}

}  // namespace outrigger::resilience
