#include "secret_ref.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace outrigger::providers {
namespace {

// A key read from a file or the environment without the line end it was written with (`echo key |
// base64` into a Kubernetes secret keeps it): in a header it would refuse every request.
std::string trimmed(std::string v) {
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
  size_t start = 0;
  while (start < v.size() && (v[start] == ' ' || v[start] == '\t')) ++start;
  return v.substr(start);
}

}  // namespace

bool resolveSecret(std::string_view reference, std::string* value, std::string* error) {
  if (reference.size() > 3 && reference.substr(0, 2) == "${" && reference.back() == '}') {
    std::string name(reference.substr(2, reference.size() - 3));
    const char* v = std::getenv(name.c_str());
    std::string key = v ? trimmed(v) : "";
    if (key.empty()) {
      *error = "environment variable " + name + " is not set";
      return false;
    }
    *value = std::move(key);
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
    std::string v = trimmed(ss.str());
    if (v.empty()) {
      *error = "secret file " + path + " is empty";
      return false;
    }
    *value = std::move(v);
    return true;
  }
  // The host's config loader expands ${ENV_VAR} in every string before the plugin sees it, so
  // an expanded reference and a literal look the same here; examples only use references.
  std::string key = trimmed(std::string(reference));
  if (key.empty()) {
    *error = "empty key reference";
    return false;
  }
  *value = std::move(key);
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
