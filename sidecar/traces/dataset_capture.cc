#include "traces/dataset_capture.h"

#include <re2/re2.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <xxhash.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>

#include "traces/query_parts.h"

namespace outrigger::traces {

using namespace query_parts;

namespace {

struct Row {
  int64_t id = 0, start_unix_ns = 0;
  std::string trace_id, route, tenant, prompt_id, prompt_version, status, message, finish_reason, origin;
  std::string verdicts, spans, capture, prompt, answer;
  bool scored = false;
  double score = 0;
};

std::string stringOf(const rapidjson::Value& o, const char* key) {
  auto it = o.FindMember(key);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                    : std::string();
}

// Why the request is a case, or "" when it is not one. The first reason that applies.
// A guardrail's deny says more than the error status it causes, so it comes first.
std::string reasonOf(const Row& r, const CaptureOptions& o) {
  rapidjson::Document verdicts;
  bool have_verdicts = !verdicts.Parse(r.verdicts.c_str()).HasParseError() && verdicts.IsArray();
  auto firstVerdict = [&](const char* kind) -> std::string {
    if (!have_verdicts) return "";
    for (const auto& v : verdicts.GetArray()) {
      if (stringOf(v, "verdict") == kind) return std::string(kind) + ":" + stringOf(v, "guardrail");
    }
    return "";
  };
  if (o.denials) {
    if (std::string deny = firstVerdict("deny"); !deny.empty()) return deny;
  }
  if (o.errors && r.status != "OK") return "error:" + r.status;
  if (o.flags) {
    if (std::string flag = firstVerdict("flag"); !flag.empty()) return flag;
  }
  if (o.refusals && isRefusal(r.finish_reason)) return "refusal";
  if (o.fallbacks) {
    if (r.origin.rfind("fallback/", 0) == 0) return "degraded";
    rapidjson::Document spans;
    if (!spans.Parse(r.spans.c_str()).HasParseError() && spans.IsArray()) {
      for (const auto& s : spans.GetArray()) {
        if (stringOf(s, "stage") == "fallback") return "fallback";
      }
    }
  }
  if (o.feedback_below >= 0 && r.scored && r.score < o.feedback_below) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "feedback:%g", r.score);
    return buf;
  }
  return "";
}

std::string redacted(std::string text, const std::vector<std::unique_ptr<RE2>>& patterns) {
  for (const auto& re : patterns) RE2::GlobalReplace(&text, *re, "<redacted>");
  return text;
}

// Lower case, one space between words: "Where is  my Order?" and "where is my order?" are one case.
std::string normalized(const std::string& text) {
  std::string out;
  bool space = false;
  for (unsigned char c : text) {
    if (std::isspace(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += char(std::tolower(c));
  }
  return out;
}

std::string rfc3339(int64_t unix_ns) {
  std::time_t t = std::time_t(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, const std::string& value) {
  w.Key(key);
  w.String(value.data(), rapidjson::SizeType(value.size()));
}

}  // namespace

bool captureCases(sqlite3* db, const CaptureOptions& o, std::set<std::string>* known, std::vector<CapturedCase>* out,
                  CaptureReport* report, std::string* error) {
  if (!validFilter(o.filter, error)) return false;
  std::vector<std::unique_ptr<RE2>> patterns;
  for (const auto& p : o.redact) {
    auto re = std::make_unique<RE2>(p, RE2::Quiet);
    if (!re->ok()) {
      *error = "redact " + p + ": " + re->error();
      return false;
    }
    patterns.push_back(std::move(re));
  }
  Where w = whereOf(o.filter);
  w.add("r.id > ?" + std::to_string(w.values.size() + 1), o.after_request);
  std::string sql =
      "SELECT r.id, r.trace_id, r.start_unix_ns, r.route, r.tenant, r.prompt_id, r.prompt_version, r.status, r.message,"
      " r.finish_reason, r.origin, r.verdicts, r.spans, r.capture, coalesce(r.prompt, ''), coalesce(r.answer, ''),"
      " (SELECT min(score) FROM feedback f WHERE f.trace_id = r.trace_id) FROM requests r" + w.sql + " ORDER BY r.id";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = std::string("capture: ") + sqlite3_errmsg(db);
    return false;
  }
  w.bind(s);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW && report->captured < o.max_cases) {
    Row r;
    int c = 0;
    r.id = s.columnInt(c++);
    r.trace_id = s.columnText(c++);
    r.start_unix_ns = s.columnInt(c++);
    r.route = s.columnText(c++);
    r.tenant = s.columnText(c++);
    r.prompt_id = s.columnText(c++);
    r.prompt_version = s.columnText(c++);
    r.status = s.columnText(c++);
    r.message = s.columnText(c++);
    r.finish_reason = s.columnText(c++);
    r.origin = s.columnText(c++);
    r.verdicts = s.columnText(c++);
    r.spans = s.columnText(c++);
    r.capture = s.columnText(c++);
    r.prompt = s.columnText(c++);
    r.answer = s.columnText(c++);
    r.scored = !s.columnIsNull(c);
    if (r.scored) r.score = s.columnReal(c);
    ++report->scanned;
    report->last_request = r.id;
    std::string reason = reasonOf(r, o);
    if (reason.empty()) continue;
    rapidjson::Document prompt;
    if (r.capture != "full" || prompt.Parse(r.prompt.c_str()).HasParseError() || !prompt.IsArray() || prompt.Empty()) {
      ++report->without_text;
      continue;
    }
    rapidjson::StringBuffer buf;
    Writer line(buf);
    std::string hash_input;
    line.StartObject();
    line.Key("messages");
    line.StartArray();
    for (const auto& m : prompt.GetArray()) {
      std::string role = stringOf(m, "role"), content = redacted(stringOf(m, "content"), patterns);
      hash_input += role + "\x1f" + normalized(content) + "\x1e";
      line.StartObject();
      put(line, "role", role);
      put(line, "content", content);
      line.EndObject();
    }
    line.EndArray();
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(XXH3_64bits(hash_input.data(), hash_input.size())));
    if (!known->insert(hash).second) {
      ++report->duplicates;
      continue;
    }
    put(line, "id", std::string("captured-") + hash);
    line.Key("tags");
    line.StartArray();
    line.String("captured");
    std::string kind = reason.substr(0, reason.find(':'));
    line.String(kind.c_str());
    line.EndArray();
    line.Key("metadata");
    line.StartObject();
    put(line, "reason", reason);
    put(line, "trace_id", r.trace_id);
    put(line, "time", rfc3339(r.start_unix_ns));
    put(line, "route", r.route);
    if (!r.tenant.empty()) put(line, "tenant", r.tenant);
    if (!r.prompt_id.empty()) put(line, "prompt_id", r.prompt_id);
    if (!r.prompt_version.empty()) put(line, "prompt_version", r.prompt_version);
    put(line, "status", r.status);
    if (!r.message.empty()) put(line, "message", redacted(r.message, patterns));
    if (!r.answer.empty()) put(line, "answer", redacted(r.answer, patterns));
    put(line, "prompt_hash", hash);
    line.EndObject();
    line.EndObject();
    out->push_back({std::string(buf.GetString(), buf.GetSize()), hash});
    ++report->captured;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    *error = std::string("capture: ") + sqlite3_errmsg(db);
    return false;
  }
  return true;
}

std::set<std::string> knownPromptHashes(const std::string& path) {
  std::set<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    if (d.Parse(line.c_str()).HasParseError() || !d.IsObject() || !d.HasMember("metadata") || !d["metadata"].IsObject()) continue;
    std::string hash = stringOf(d["metadata"], "prompt_hash");
    if (!hash.empty()) out.insert(hash);
  }
  return out;
}

}  // namespace outrigger::traces
