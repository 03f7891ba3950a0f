// A whole file as text, for the small files the CLI and evals read (eval files' schemas, results
// JSON, rubrics). False when it cannot be opened or read.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace outrigger {

inline bool readFileText(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return false;
  *out = text.str();
  return true;
}

}  // namespace outrigger
