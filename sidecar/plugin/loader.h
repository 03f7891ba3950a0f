// Loads plugin libraries and indexes the types they provide.
//
// Libraries are opened with RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and never closed; opening the
// same path twice returns the library loaded the first time. Every refusal names the file, and
// version refusals name both ABI versions.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <outrigger/plugin.h>

#include "common/status.h"

namespace outrigger::plugin {

struct ConfigSchema;  // a compiled JSON Schema (schema.h)

std::string_view kindName(outrigger_kind kind);
bool parseKind(std::string_view name, outrigger_kind* out);
std::string_view stabilityName(outrigger_stability s);

struct PluginType {
  const outrigger_plugin_type* c_type = nullptr;
  outrigger_kind kind = 0;
  std::string name;
  std::string description;
  std::string schema_json;
  std::string library;       // library name from the entry
  std::string version;       // library version
  std::string path;          // file it came from
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
  std::shared_ptr<const ConfigSchema> schema;
};

// Opens one library and returns its types. Process-wide cache: safe to call again.
Expected<std::vector<std::shared_ptr<const PluginType>>> loadLibrary(const std::string& path);

// The types found in a set of directories; built on the main thread, then read-only.
class PluginCatalog {
 public:
  // Loads every regular "*.so" file in `dir` in name order.
  Status addDirectory(const std::string& dir);
  Status addLibrary(const std::string& path);

  // Nullptr when no library provides (kind, name).
  const PluginType* find(outrigger_kind kind, std::string_view name) const;
  const std::vector<std::shared_ptr<const PluginType>>& types() const { return types_; }

 private:
  std::vector<std::shared_ptr<const PluginType>> types_;
};

}  // namespace outrigger::plugin
