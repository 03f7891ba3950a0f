// Reading the eval's TOML files (the eval file, the simulation file) one table at a time, with
// errors that name the file and line.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace outrigger::eval {

// Parses the TOML file at `path`; false with "path:line: what" on a syntax error.
inline bool parseTomlFile(const std::string& path, toml::table* root, std::string* error) {
  try {
    *root = toml::parse_file(path);
    return true;
  } catch (const toml::parse_error& e) {
    *error = path + ":" + std::to_string(e.source().begin.line) + ": " + std::string(e.description());
    return false;
  }
}

// The folder `path` is in ("" for the working directory) and its file name.
inline void splitPath(const std::string& path, std::string* dir, std::string* name) {
  size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "" : path.substr(0, slash);
  *name = path.substr(slash == std::string::npos ? 0 : slash + 1);
}

// Reads one table's keys: refuses keys it does not know and values of the wrong type, naming
// the file and line. The first error sticks; later reads are no-ops.
class TableReader {
 public:
  TableReader(const toml::table& t, const std::string& file, std::string* error) : t_(t), file_(file), error_(error) {}

  bool onlyKeys(const std::set<std::string>& known, const std::string& section) {
    for (const auto& [key, node] : t_) {
      if (!known.count(std::string(key.str()))) fail(node, "unknown key '" + std::string(key.str()) + "' in " + section);
    }
    return ok_;
  }
  template <class T>
  void get(const char* key, T* into, const char* type_name) {
    const toml::node* n = t_.get(key);
    if (!ok_ || !n) return;
    if (auto v = n->value<T>()) *into = *v;
    else fail(*n, std::string("'") + key + "' must be " + type_name);
  }
  void text(const char* key, std::string* into) { get(key, into, "a string"); }
  void flag(const char* key, bool* into) { get(key, into, "true or false"); }
  void number(const char* key, double* into) { get(key, into, "a number"); }
  // An integer within [lo, hi].
  void count(const char* key, uint32_t* into, int64_t lo, int64_t hi) {
    int64_t v = *into;
    get(key, &v, "an integer");
    if (ok_ && (v < lo || v > hi)) fail(*t_.get(key), std::string("'") + key + "' must be " + std::to_string(lo) + ".." + std::to_string(hi));
    if (ok_) *into = static_cast<uint32_t>(v);
  }
  void strings(const char* key, std::vector<std::string>* into) {
    const toml::node* n = t_.get(key);
    if (!ok_ || !n) return;
    const toml::array* a = n->as_array();
    if (!a) return fail(*n, std::string("'") + key + "' must be an array of strings");
    for (const auto& e : *a) {
      if (!e.is_string()) return fail(e, std::string("'") + key + "' must be an array of strings");
      into->push_back(*e.value<std::string>());
    }
  }
  void fail(const toml::node& n, const std::string& why) {
    if (!ok_) return;
    ok_ = false;
    *error_ = file_ + ":" + std::to_string(n.source().begin.line) + ": " + why;
  }
  bool ok() const { return ok_; }

 private:
  const toml::table& t_;
  const std::string& file_;
  std::string* error_;
  bool ok_ = true;
};

// Calls `read(table)` for each entry of the array of tables `key`; false with `error` at the
// first entry that is not a table or that `read` refuses (it sets `error` then). When `required`,
// an absent or empty array is an error too.
template <class Read>
bool readTables(const toml::table& root, const char* key, const std::string& file, bool required, Read read,
                std::string* error) {
  const toml::node* node = root.get(key);
  const toml::array* list = node ? node->as_array() : nullptr;
  if (node && !list) {
    *error = file + ":" + std::to_string(node->source().begin.line) + ": '" + key + "' must be an array of tables";
    return false;
  }
  if (!list || list->empty()) {
    if (required) *error = file + ": no [[" + key + "]]";
    return !required;
  }
  for (const auto& entry : *list) {
    const toml::table* t = entry.as_table();
    if (!t) {
      *error = file + ":" + std::to_string(entry.source().begin.line) + ": [[" + key + "]] entries must be tables";
      return false;
    }
    if (!read(*t)) return false;
  }
  return true;
}

}  // namespace outrigger::eval
