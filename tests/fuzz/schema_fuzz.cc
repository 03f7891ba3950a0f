// libFuzzer target for plugin config validation: the host compiles the JSON Schema each plugin
// type exports (valijson over RapidJSON) and validates every instance's config against it.
// The input is a schema and a config separated by the first NUL byte; without one, the input is
// both (a schema is itself a JSON object, so it exercises a config's shapes too). Besides not
// crashing or throwing, a refused schema or config is an INVALID_ARGUMENT status with a message
// naming the config, and validating the same config twice gives the same verdict.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "plugin/schema.h"

namespace {

using outrigger::Code;
using outrigger::Status;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// JSON pointers to "file:line", as the config loader records them for a plugin table.
const std::map<std::string, std::string>& lines() {
  static const std::map<std::string, std::string> table = {
      {"", "fuzz.toml:1"}, {"/base_url", "fuzz.toml:2"}, {"/rules", "fuzz.toml:3"}, {"/headers", "fuzz.toml:4"}};
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view schema_json = input.substr(0, nul);
  std::string_view config_json = nul == std::string_view::npos ? input : input.substr(nul + 1);

  auto schema = outrigger::plugin::compileSchema(schema_json);
  if (!schema.ok()) {
    check(schema.status().code() == Code::kInvalidArgument);
    check(schema.status().message().rfind("config schema is ", 0) == 0);
    return 0;
  }
  check(schema.value() != nullptr);
  Status first = outrigger::plugin::validateConfig(*schema.value(), config_json, lines());
  if (!first.isOk()) {
    check(first.code() == Code::kInvalidArgument);
    check(first.message().find("config") != std::string::npos);
  }
  Status again = outrigger::plugin::validateConfig(*schema.value(), config_json, lines());
  check(again.code() == first.code() && again.message() == first.message());
  return 0;
}
