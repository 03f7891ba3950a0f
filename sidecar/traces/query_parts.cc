#include "traces/query_parts.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "bounded_json.h"
#include "common/status.h"
#include "traces/trace_store.h"

namespace outrigger::traces::query_parts {

std::string upperStatus(std::string status) {
  std::transform(status.begin(), status.end(), status.begin(), [](unsigned char c) { return std::toupper(c); });
  return status;
}

bool knownStatus(const std::string& status) {
  const std::string upper = upperStatus(status);
  Code code;
  return upper == "ERROR" || parseCode(upper, &code);
}

int verdictBit(const std::string& name) {
  static const char* kNames[] = {"pass", "flag", "deny", "rewrite", "skipped", "error"};
  for (int i = 0; i < 6; ++i) {
    if (name == kNames[i]) return i;
  }
  return -1;
}


Where whereOf(const TraceFilter& f) {
  Where w;
  if (!f.trace_id.empty()) {
    w.add("r.trace_key = ?" + std::to_string(w.values.size() + 1), traceKey(f.trace_id));
    w.addText("trace_id", f.trace_id);
  }
  w.addText("route", f.route);
  w.addText("tenant", f.tenant);
  w.addText("user", f.user);
  w.addText("session", f.session);
  w.addText("model", f.model);
  w.addText("provider", f.provider);
  w.addText("prompt_id", f.prompt_id);
  w.addText("prompt_version", f.prompt_version);
  if (!f.status.empty()) {
    const std::string upper = upperStatus(f.status);
    if (upper == "ERROR") {
      w.add("r.status <> ?" + std::to_string(w.values.size() + 1), std::string("OK"));
    } else {
      w.add("r.status = ?" + std::to_string(w.values.size() + 1), upper);
    }
  }
  if (!f.verdict.empty()) {
    w.add("(r.verdict_flags & ?" + std::to_string(w.values.size() + 1) + ") <> 0", int64_t{1} << verdictBit(f.verdict));
  }
  if (f.since_unix_ns) w.add("r.start_unix_ns >= ?" + std::to_string(w.values.size() + 1), f.since_unix_ns);
  if (f.until_unix_ns) w.add("r.start_unix_ns < ?" + std::to_string(w.values.size() + 1), f.until_unix_ns);
  return w;
}

std::string promptConversation(const std::string& prompt_json) {
  rapidjson::Document d;
  if (prompt_json.empty() || !json::parse(prompt_json, &d) || !d.IsArray()) return "";
  std::string text;
  for (const auto& m : d.GetArray()) {
    if (!m.IsObject() || !m.HasMember("role") || !m["role"].IsString()) continue;
    std::string content = m.HasMember("content") && m["content"].IsString() ? m["content"].GetString() : "";
    text += std::string("[") + m["role"].GetString() + "] " + content + "\n";
  }
  return text;
}

bool isRefusal(const std::string& finish_reason) {
  return finish_reason == "content_filter" || finish_reason == "refusal";
}

double nearestRank(const std::vector<int64_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted_us.size())));
  return static_cast<double>(sorted_us[std::min(sorted_us.size(), std::max<size_t>(rank, 1)) - 1]) / 1000.0;
}

}  // namespace outrigger::traces::query_parts
