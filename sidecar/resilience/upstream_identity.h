// What a target's upstream says it is: the model (gen_ai.response.model) and system fingerprint
// its answers report. A change between consecutive answers is an event: the provider moved an
// alias ("gpt-4o") to another snapshot, or changed how it serves it, and answers may drift with
// it. The sidecar logs each change and counts it on /metrics as it happens; `outrigger drift
// report` lists them from the trace store afterwards.
// Thread: [any]. The common case, an answer naming what the last one did, is two atomic loads
// and two string hashes; only a change takes the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::resilience {

class UpstreamIdentity {
 public:
  // Longer values (an upstream may send anything) are cut here, between characters, and control
  // characters become '?': they become log text and a label.
  static constexpr size_t kMaxValueBytes = 128;
  struct Change {
    const char* kind;  // "model" or "system_fingerprint"
    std::string from, to;
  };
  // Records an answer's model and fingerprint ("" when it reported none, which changes
  // nothing); returns the changes it shows. The first value seen is not a change.
  std::vector<Change> observe(std::string_view model, std::string_view fingerprint);

  struct Snapshot {
    std::string model, fingerprint;
    uint64_t model_changes = 0, fingerprint_changes = 0;
  };
  Snapshot snapshot() const;

 private:
  struct Field {
    std::atomic<uint64_t> hash{0};  // of `value`; 0 until one is seen
    std::string value;              // under mu_
    uint64_t changes = 0;           // under mu_
  };
  void observeField(Field& f, const char* kind, std::string_view value, std::vector<Change>* out);

  mutable std::mutex mu_;
  Field model_, fingerprint_;
};

}  // namespace outrigger::resilience
