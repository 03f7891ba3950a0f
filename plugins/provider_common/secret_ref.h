// API keys by reference: "${NAME}" reads the environment variable NAME, "file:/path" reads a
// file (e.g. a Kubernetes secret mount) and trims trailing whitespace. The host's config loader
// already expands ${NAME} in TOML strings, so any other text is taken as the (expanded) key.
// Errors name the reference, never the value.
#pragma once

#include <string>
#include <string_view>

namespace outrigger::providers {

// True with the secret in *value; false with a message in *error.
bool resolveSecret(std::string_view reference, std::string* value, std::string* error);

// `text` with every occurrence of `secret` replaced by "[redacted]" (no-op for an empty secret).
std::string redact(std::string text, std::string_view secret);

}  // namespace outrigger::providers
