// guardrail.hello: denies any request whose last message does not start with a greeting.
// The smallest useful plugin: a config schema, a constructor that reads it, one hook.
#include <outrigger/plugin.hpp>

#include <string>

namespace {

class HelloGuardrail final : public outrigger::plugin::Guardrail {
 public:
  static constexpr const char* kName = "hello";
  static constexpr const char* kDescription = "Denies requests that do not start with a greeting";
  static constexpr const char* kConfigSchema = R"json({
    "type": "object", "additionalProperties": false,
    "properties": {"greeting": {"type": "string", "minLength": 1}}
  })json";
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;

  HelloGuardrail(outrigger::plugin::Host host, std::string_view name, std::string_view config)
      : Guardrail(host, name) {
    // The host validated `config` against kConfigSchema; a real plugin parses it with a JSON
    // library. This one only looks for an optional greeting override.
    auto at = config.find("\"greeting\":\"");
    if (at != std::string_view::npos) {
      auto start = at + 12;
      greeting_ = std::string(config.substr(start, config.find('"', start) - start));
    }
  }

  outrigger_status onRequest(const outrigger_request_view& req, outrigger_guardrail_result& result) override {
    if (req.message_count == 0) return OUTRIGGER_CONTINUE;
    std::string_view text = outrigger::plugin::view(req.messages[req.message_count - 1].content);
    if (text.substr(0, greeting_.size()) == greeting_) return OUTRIGGER_CONTINUE;
    reason_ = "say '" + greeting_ + "' first";
    result.verdict = OUTRIGGER_VERDICT_DENY;
    result.reason = outrigger::plugin::str(reason_);
    return OUTRIGGER_STOP;
  }

 private:
  std::string greeting_ = "hello";
  std::string reason_;
};

}  // namespace

OUTRIGGER_PLUGIN("guardrail_hello", "0.1.0", outrigger::plugin::typeOf<HelloGuardrail>())
