#include "secret_ref.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace outrigger::providers {

bool resolveSecret(std::string_view reference, std::string* value, std::string* error) {
  if (reference.size() > 3 && reference.substr(0, 2) == "${" && reference.back() == '}') {
    std::string name(reference.substr(2, reference.size() - 3));
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) {
      *error = "environment variable " + name + " is not set";
      return false;
    }
    *value = v;
    return true;
  }
  if (reference.substr(0, 5) == "file:") {
    std::string path(reference.substr(5));
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      *error = "cannot read secret file " + path;
      return false;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    std::string v = ss.str();
    while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (v.empty()) {
      *error = "secret file " + path + " is empty";
      return false;
    }
    *value = std::move(v);
    return true;
  }
  // The host's config loader expands ${ENV_VAR} in every string before the plugin sees it, so
  // an expanded reference and a literal look the same here; examples only use references.
  if (reference.empty()) {
    *error = "empty key reference";
    return false;
  }
  *value = std::string(reference);
  return true;
}

std::string redact(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "[redacted]");
  }
  return text;
}

}  // namespace outrigger::providers
