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

}  // namespace outrigger::testing
