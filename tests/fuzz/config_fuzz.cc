// libFuzzer target for the TOML config parser (toml++ underneath, then every section's checks):
// any text either parses into settings or fails with a "file:line: message" error; it never
// crashes, hangs or throws past parseConfig.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto settings = outrigger::config::parseConfig(text, "fuzz.toml", "/nonexistent");
  if (!settings.ok() && settings.status().message().rfind("fuzz.toml", 0) != 0) __builtin_trap();
  return 0;
}
