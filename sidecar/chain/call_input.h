// A request given in process, with no wire frame: what the CLI's dataset runs (and tests) hand
// the engine. The same fields as a wire Request, owned here; the plugins see the same views.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace outrigger::chain {

struct CallInput {
  struct ToolCall {
    std::string id, type = "function", name, arguments;
  };
  struct Message {
    std::string role, content, name, tool_call_id;
    std::vector<ToolCall> tool_calls;
  };
  struct Tool {
    std::string type = "function", name, description, parameters_json;
  };
  std::string model;  // a route name, or a model the default route accepts
  std::vector<Message> messages;
  std::optional<float> temperature, top_p;
  std::optional<uint32_t> max_tokens;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  std::vector<Tool> tools;
  std::string tool_choice;
  int response_format = 0;  // outrigger_response_format: text, json_object, json_schema
  std::string response_schema_name, response_schema_json;
  bool response_schema_strict = false;
  std::string extra_json;
  bool stream = false;
  std::string tenant, user, session, request_id, prompt_id, prompt_version, traceparent;
  std::vector<std::pair<std::string, std::string>> tags;
  uint32_t timeout_ms = 0;  // 0: the server's default
  uint64_t deadline_ns = 0;  // absolute (monotonic), when earlier than the timeout: a model call's caller
  // A model call's: when the caller's deadline timer fires, in ms from the loop's time now. The
  // child's own timer is set just after it, so the caller ends with its deadline and cancels
  // the child, rather than reacting to the child's deadline (the two would race).
  uint64_t caller_timer_due_in_ms = 0;
  bool cache_bypass = false, cache_no_store = false;
  uint32_t cache_ttl_ms = 0;
};

}  // namespace outrigger::chain
