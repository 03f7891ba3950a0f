#include "chain/request_json_depth.h"

#include "bounded_json.h"
#include "plugin/str_view.h"

namespace outrigger::chain {
namespace {

std::string refusal(const std::string& field) { return field + ": " + json::tooDeepReason(); }

std::string indexed(const char* list, size_t i, const char* field) {
  return std::string(list) + "[" + std::to_string(i) + "]." + field;
}

}  // namespace

std::string tooDeepJsonField(const outrigger_request_view& request) {
  for (size_t i = 0; i < request.message_count; ++i) {
    const outrigger_message_view& m = request.messages[i];
    for (size_t j = 0; j < m.tool_call_count; ++j) {
      if (json::nestsTooDeep(sv(m.tool_calls[j].arguments))) {
        return refusal(indexed("messages", i, "tool_calls") + "[" + std::to_string(j) + "].arguments");
      }
    }
  }
  const outrigger_params_view* p = request.params;
  if (!p) return {};
  for (size_t i = 0; i < p->tool_count; ++i) {
    if (json::nestsTooDeep(sv(p->tools[i].parameters_json))) return refusal(indexed("params.tools", i, "parameters_json"));
  }
  if (json::nestsTooDeep(sv(p->tool_choice))) return refusal("params.tool_choice");
  if (json::nestsTooDeep(sv(p->response_schema_json))) return refusal("params.response_format.schema_json");
  if (json::nestsTooDeep(sv(p->extra_json))) return refusal("params.extra_json");
  return {};
}

std::string tooDeepJsonField(const EmbedInput& embed) {
  return json::nestsTooDeep(embed.extra_json) ? refusal("extra_json") : std::string();
}

}  // namespace outrigger::chain
