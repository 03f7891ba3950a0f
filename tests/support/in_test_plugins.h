// Plugin types defined inside a test (with the C++ wrapper's typeOf<T>()), made into the
// loader's PluginType without a shared library, for instances a test creates by hand.
#pragma once

#include <outrigger/plugin.h>

#include "plugin/loader.h"
#include "plugin/schema.h"
#include "plugin/str_view.h"

namespace outrigger::testing {

// Accepts any object as config.
inline plugin::PluginType typeFor(const outrigger_plugin_type* c) {
  plugin::PluginType t;
  t.c_type = c;
  t.kind = c->kind;
  t.name = std::string(sv(c->name));
  t.schema = plugin::compileSchema(R"({"type":"object"})").value();
  return t;
}

// A guardrail type that passes every request and does nothing else, for tests that drive the
// host table its instance is given: `create` and `destroy` are the test's own (they usually keep
// the host table and record the destroy).
inline outrigger_plugin_type passingGuardrailType(decltype(outrigger_plugin_type::create) create,
                                                  decltype(outrigger_plugin_type::destroy) destroy,
                                                  uint64_t capabilities = 0) {
  static const outrigger_guardrail_hooks hooks = {
      OUTRIGGER_HEADER_INIT(outrigger_guardrail_hooks),
      [](void*, const outrigger_request_view*, outrigger_guardrail_result*) noexcept -> outrigger_status {
        return OUTRIGGER_CONTINUE;
      },
      nullptr,
      nullptr,
      nullptr,
      nullptr,
      nullptr,  // on_stream_restart
  };
  outrigger_plugin_type t{};
  t.hdr = OUTRIGGER_HEADER_INIT(outrigger_plugin_type);
  t.kind = OUTRIGGER_KIND_GUARDRAIL;
  t.name = {"probe", 5};
  t.config_schema_json = {"{}", 2};
  t.capabilities = capabilities;
  t.create = create;
  t.destroy = destroy;
  t.hooks = &hooks;
  return t;
}

}  // namespace outrigger::testing
