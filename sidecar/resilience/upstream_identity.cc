#include "resilience/upstream_identity.h"

#include "common/prometheus_label.h"

namespace outrigger::resilience {

void UpstreamIdentity::observeField(std::string* seen, const char* kind, std::string_view value, uint64_t* changes,
                                    std::vector<Change>* out) {
  if (value.empty()) return;
  value = labelPrefix(value, kMaxValueBytes);  // a cut character would be invalid text
  if (*seen == value) return;  // the common case, under the lock of every answer: no copy
  std::string printable(value);
  for (char& c : printable) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // an upstream cannot forge log lines
  }
  if (*seen == printable) return;
  if (!seen->empty()) {
    out->push_back({kind, *seen, printable});
    ++*changes;
  }
  *seen = std::move(printable);
}

std::vector<UpstreamIdentity::Change> UpstreamIdentity::observe(std::string_view asked, std::string_view model,
                                                                 std::string_view fingerprint) {
  std::vector<Change> changes;
  std::lock_guard<std::mutex> lock(mu_);
  Identity* id = nullptr;
  Identity* least_recent = nullptr;
  for (Identity& i : identities_) {
    if (i.asked == asked) id = &i;
    if (!least_recent || i.used < least_recent->used) least_recent = &i;
  }
  if (!id && identities_.size() < kMaxAskedModels) {
    id = &identities_.emplace_back();  // a deque keeps `last_` valid
  } else if (!id) {
    id = least_recent;  // never `last_`, the one asked for most recently
    *id = Identity();
  }
  if (id->asked.empty()) id->asked = std::string(asked);
  id->used = ++observations_;
  observeField(&id->model, "model", model, &model_changes_, &changes);
  observeField(&id->fingerprint, "system_fingerprint", fingerprint, &fingerprint_changes_, &changes);
  last_ = id;
  return changes;
}

UpstreamIdentity::Snapshot UpstreamIdentity::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!last_) return {};
  return {last_->model, last_->fingerprint, model_changes_, fingerprint_changes_};
}

}  // namespace outrigger::resilience
