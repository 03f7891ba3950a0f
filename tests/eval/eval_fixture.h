// What the eval tests share: a daemon with an echoing mock, two judge routes (one always says
// pass, one always says fail), the admin and HTTP fronts and a price for the mock; and running
// `outrigger eval` against it, reading back what it wrote.
#pragma once

#include <rapidjson/document.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "support/admin_metrics.h"
#include "support/daemon_process.h"
#include "support/run_command.h"

namespace outrigger::testing {

inline std::string evalDaemonConfig() {
  return basicConfig(
      "mode = \"echo\"\nallow_request_overrides = true\nembedding_dimensions = 64",
      "[instances.judge_yes]\ntype = \"provider.mock\"\n[instances.judge_yes.config]\nmode = \"fixed\"\n"
      "text = '{\"score\": 0.9, \"reason\": \"on topic and polite\", \"pass\": true}'\n"
      "[instances.judge_no]\ntype = \"provider.mock\"\n[instances.judge_no.config]\nmode = \"fixed\"\n"
      "text = 'Verdict: {\"score\": 0.2, \"reason\": \"off topic\", \"pass\": false}'\n"
      "[routes.judge_yes]\nprovider = \"judge_yes\"\n[routes.judge_no]\nprovider = \"judge_no\"\n"
      "[admin]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
      "[prices.\"mock/mock-1\"]\ninput = 0.001\noutput = 0.001\n");
}

// The daemon of evalDaemonConfig() serves its socket, and has logged its admin and HTTP fronts
// (which start listening after the socket does).
inline bool evalDaemonReady(DaemonProcess& d) {
  if (!d.waitReady()) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string log = d.log();
    if (log.find("API listening on") != std::string::npos && log.find("admin endpoints listening on") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

inline void writeText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

inline std::string readText(const std::string& path) {
  std::stringstream s;
  s << std::ifstream(path).rdbuf();
  return s.str();
}

// Runs `outrigger eval <args>` against the daemon's socket: exit code and output.
inline std::pair<int, std::string> outriggerEval(const DaemonProcess& d, const std::string& args) {
  return runCommand(std::string(OUTRIGGER_BIN) + " eval " + args + " --socket " + d.socket());
}

// An eval file in the daemon's directory: the header keys (timeout_ms 5000 unless they set it),
// one target on route "default", then the scorer tables given.
inline std::string writeEvalFile(const DaemonProcess& d, const std::string& name, const std::string& dataset,
                                 const std::string& scorers, const std::string& header = "") {
  std::string path = d.dir() + "/" + name + ".toml";
  std::string timeout = header.find("timeout_ms") == std::string::npos ? "timeout_ms = 5000\n" : "";
  writeText(path, "name = \"" + name + "\"\ndataset = \"" + dataset + "\"\nconcurrency = 3\n" + timeout + header +
                      "\n[[targets]]\nname = \"mock\"\nroute = \"default\"\n\n" + scorers);
  return path;
}

inline rapidjson::Document readJson(const std::string& path) {
  rapidjson::Document doc;
  doc.Parse(readText(path).c_str());
  return doc;
}

// The case `id` of the first target in a results JSON (Null when absent).
inline const rapidjson::Value& resultCase(const rapidjson::Document& doc, const std::string& id) {
  static const rapidjson::Value null;
  if (!doc.IsObject() || !doc.HasMember("targets")) return null;
  for (const auto& c : doc["targets"][0]["cases"].GetArray()) {
    if (id == c["id"].GetString()) return c;
  }
  return null;
}

inline std::string caseStatus(const rapidjson::Document& doc, const std::string& id) {
  const auto& c = resultCase(doc, id);
  return c.IsObject() ? c["status"].GetString() : "absent";
}

// The verdict of `scorer` on case `id`: "pass", "fail", "error" or "absent".
inline std::string scoreVerdict(const rapidjson::Document& doc, const std::string& id, const std::string& scorer) {
  const auto& c = resultCase(doc, id);
  if (!c.IsObject()) return "absent";
  for (const auto& s : c["scores"].GetArray()) {
    if (scorer != s["scorer"].GetString()) continue;
    if (s.HasMember("error")) return "error";
    return s["pass"].GetBool() ? "pass" : "fail";
  }
  return "absent";
}

// The sum of every /metrics sample whose line starts with `prefix` (labels included).
inline double metricSum(const DaemonProcess& d, const std::string& prefix) {
  std::istringstream lines(adminMetricsText(d));
  double sum = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

// The port of the daemon's OpenAI-compatible front, from its log.
inline std::string httpFrontUrl(const DaemonProcess& d) {
  std::smatch m;
  std::string log = d.log();
  if (!std::regex_search(log, m, std::regex("API listening on 127\\.0\\.0\\.1:(\\d+)"))) return "";
  return "http://127.0.0.1:" + m[1].str();
}

}  // namespace outrigger::testing
