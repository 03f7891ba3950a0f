// What a target's upstream says it is: the model (gen_ai.response.model) and system fingerprint
// its answers report, for each model the sidecar asked it for. A change between consecutive
// answers to the same model asked is an event: the provider moved an alias ("gpt-4o") to another
// snapshot, or changed how it serves it, and answers may drift with it. A target that passes the
// caller's model through answers each model as itself, which is no change. The sidecar logs each
// change and counts it on /metrics as it happens; `outrigger drift report` lists them from the
// trace store afterwards.
// Thread: [any]; one short lock per answer.
#pragma once

#include <cstdint>
#include <deque>
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
  // Models asked for that are followed at once (a pass-through target may be asked for any name
  // a caller sends): a new one takes the place of the one asked for least recently.
  static constexpr size_t kMaxAskedModels = 32;
  struct Change {
    const char* kind;  // "model" or "system_fingerprint"
    std::string from, to;
  };
  // Records an answer to `asked` and its model and fingerprint ("" when it reported none, which
  // changes nothing); returns the changes it shows. The first value seen is not a change.
  std::vector<Change> observe(std::string_view asked, std::string_view model, std::string_view fingerprint);

  struct Snapshot {
    std::string model, fingerprint;  // the last answer's
    uint64_t model_changes = 0, fingerprint_changes = 0;  // over every model asked
  };
  Snapshot snapshot() const;

 private:
  struct Identity {
    std::string asked, model, fingerprint;
    uint64_t used = 0;  // when it was last asked for, in observations
  };
  void observeField(std::string* seen, const char* kind, std::string_view value, uint64_t* changes,
                    std::vector<Change>* out);

  mutable std::mutex mu_;
  std::deque<Identity> identities_;  // one per model asked, at most kMaxAskedModels
  const Identity* last_ = nullptr;
  uint64_t model_changes_ = 0, fingerprint_changes_ = 0;
  uint64_t observations_ = 0;
};

}  // namespace outrigger::resilience
