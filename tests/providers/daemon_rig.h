// Small helpers shared by the provider tests that run the real daemon: an openai instance
// pointed at a test upstream, JSON parsing of upstream logs, and the JSONL exporter's records.
#pragma once

#include <rapidjson/document.h>

#include <fstream>
#include <string>
#include <vector>

namespace outrigger::testing {

// [instances.<name>] of type provider.openai calling `base_url` with the test key.
inline std::string openaiInstance(const std::string& name, const std::string& base_url) {
  return "[instances." + name + "]\ntype = \"provider.openai\"\n[instances." + name + ".config]\n" +
         "base_url = \"" + base_url + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n" +
         "first_byte_timeout_ms = 5000\n";
}

// The head of a one-worker config with a JSONL exporter named "records" writing @DIR@/records.jsonl.
inline std::string daemonHead(const std::string& server_extra = "") {
  return "[server]\nsocket = \"@SOCKET@\"\nworkers = 1\n" + server_extra + "[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
         "[instances.records]\ntype = \"exporter.jsonl\"\n[instances.records.config]\npath = \"@DIR@/records.jsonl\"\n";
}

inline rapidjson::Document parseJson(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

// The exporter's records, one JSON text per request (complete once the daemon has exited).
inline std::vector<std::string> records(const std::string& dir) {
  std::ifstream in(dir + "/records.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace outrigger::testing
