#include "traces/dataset_capture.h"

#include <re2/re2.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <xxhash.h>

#include <algorithm>
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

// A row's columns, then the lowest feedback score of those that score it.
constexpr char kRowColumns[] =
    "SELECT r.id, r.trace_id, r.start_unix_ns, r.route, r.tenant, r.prompt_id, r.prompt_version, r.status, r.message,"
    " r.finish_reason, r.origin, r.verdicts, r.spans, r.capture, coalesce(r.prompt, ''), coalesce(r.answer, ''),"
    " (SELECT min(score) FROM feedback fb WHERE ";

Row readRow(const Statement& s) {
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
  return r;
}

// The captured prompt, when it holds text: a record that kept only the prompt's shape (a denied
// prompt, one a skipped guardrail never vetted; capture "full" in stores written before records
// said "metadata" for it) has none: empty contents, and tool calls with names but no arguments.
bool promptWithText(const Row& r, rapidjson::Document* prompt) {
  if (r.capture != "full" || prompt->Parse(r.prompt.c_str()).HasParseError() || !prompt->IsArray()) return false;
  for (const auto& m : prompt->GetArray()) {
    if (!stringOf(m, "content").empty()) return true;
    auto calls = m.FindMember("tool_calls");
    if (calls == m.MemberEnd() || !calls->value.IsArray()) continue;
    for (const auto& c : calls->value.GetArray()) {
      if (!stringOf(c, "arguments").empty()) return true;
    }
  }
  return false;
}

// A prompt message's tool calls as the dataset has them ({id, type, name, arguments}), and their
// names and arguments in the prompt hash (their ids differ in every conversation).
void putToolCalls(Writer& line, const rapidjson::Value& m, const std::vector<std::unique_ptr<RE2>>& patterns,
                  std::string* hash_input) {
  auto it = m.FindMember("tool_calls");
  if (it == m.MemberEnd() || !it->value.IsArray() || it->value.Empty()) return;
  line.Key("tool_calls");
  line.StartArray();
  for (const auto& call : it->value.GetArray()) {
    std::string name = stringOf(call, "name"), arguments = redacted(stringOf(call, "arguments"), patterns);
    *hash_input += "\x1d" "call " + name + "(" + arguments + ")";
    line.StartObject();
    put(line, "id", stringOf(call, "id"));
    put(line, "type", stringOf(call, "type"));
    put(line, "name", name);
    put(line, "arguments", arguments);
    line.EndObject();
  }
  line.EndArray();
}

// The prompt's messages as the case's, and the input of its de-duplicating hash.
std::string putMessages(Writer& line, const rapidjson::Document& prompt, const std::vector<std::unique_ptr<RE2>>& patterns) {
  std::string hash_input;
  line.Key("messages");
  line.StartArray();
  for (const auto& m : prompt.GetArray()) {
    std::string role = stringOf(m, "role"), content = redacted(stringOf(m, "content"), patterns);
    hash_input += role + "\x1f" + normalized(content);
    line.StartObject();
    put(line, "role", role);
    put(line, "content", content);
    if (std::string name = stringOf(m, "name"); !name.empty()) {
      put(line, "name", name);
      hash_input += "\x1d" "name " + name;
    }
    if (std::string id = stringOf(m, "tool_call_id"); !id.empty()) put(line, "tool_call_id", id);
    putToolCalls(line, m, patterns, &hash_input);
    line.EndObject();
    hash_input += "\x1e";
  }
  line.EndArray();
  return hash_input;
}

// What one capture run shares while it looks at rows.
struct Capturing {
  const CaptureOptions& o;
  std::vector<std::unique_ptr<RE2>> patterns;
  std::set<std::string>* known;
  std::vector<CapturedCase>* out;
  CaptureReport* report;
};

// Appends the row's case when it is one, new and with text; counts it either way.
void consider(const Row& r, Capturing& cx) {
  ++cx.report->scanned;
  std::string reason = reasonOf(r, cx.o);
  if (reason.empty()) return;
  rapidjson::Document prompt;
  if (!promptWithText(r, &prompt)) {
    ++cx.report->without_text;
    return;
  }
  rapidjson::StringBuffer buf;
  Writer line(buf);
  line.StartObject();
  std::string hash_input = putMessages(line, prompt, cx.patterns);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(XXH3_64bits(hash_input.data(), hash_input.size())));
  if (!cx.known->insert(hash).second) {
    ++cx.report->duplicates;
    return;
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
  if (!r.message.empty()) put(line, "message", redacted(r.message, cx.patterns));
  if (!r.answer.empty()) put(line, "answer", redacted(r.answer, cx.patterns));
  put(line, "prompt_hash", hash);
  line.EndObject();
  line.EndObject();
  cx.out->push_back({std::string(buf.GetString(), buf.GetSize()), hash});
  ++cx.report->captured;
}

// Considers the rows `w` selects, oldest first, until max_cases; false when the query fails.
// `done` says whether every row was looked at.
bool scan(sqlite3* db, const Where& w, Capturing& cx, bool* done, std::string* error) {
  Statement s(db, kRowColumns + std::string(kFeedbackOfRequest) + ") FROM requests r" + w.sql + " ORDER BY r.id");
  if (!s.ok()) {
    *error = std::string("capture: ") + sqlite3_errmsg(db);
    return false;
  }
  w.bind(s);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW && cx.report->captured < cx.o.max_cases) {
    Row r = readRow(s);
    cx.report->last_request = std::max(cx.report->last_request, r.id);
    consider(r, cx);
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    *error = std::string("capture: ") + sqlite3_errmsg(db);
    return false;
  }
  *done = rc == SQLITE_DONE;
  return true;
}

int64_t newestFeedback(sqlite3* db) {
  Statement s(db, "SELECT coalesce(max(id), 0) FROM feedback");
  return s.ok() && s.step() == SQLITE_ROW ? s.columnInt(0) : 0;
}

// The traces that low feedback stored after `after_feedback` scores.
bool lowlyScoredTraces(sqlite3* db, const CaptureOptions& o, std::vector<std::string>* out, std::string* error) {
  Statement s(db, "SELECT DISTINCT trace_id FROM feedback WHERE id > ?1 AND score < ?2");
  if (!s.ok()) {
    *error = std::string("capture: ") + sqlite3_errmsg(db);
    return false;
  }
  s.integer(1, o.after_feedback);
  s.real(2, o.feedback_below);
  while (s.step() == SQLITE_ROW) out->push_back(s.columnText(0));
  return true;
}

// Continuous capture: the requests earlier rounds looked at whose low feedback came since.
bool scanNewFeedback(sqlite3* db, Capturing& cx, bool* done, std::string* error) {
  const CaptureOptions& o = cx.o;
  std::vector<std::string> traces;
  if (!lowlyScoredTraces(db, o, &traces, error)) return false;
  *done = true;
  for (const std::string& trace : traces) {
    if (!o.filter.trace_id.empty() && o.filter.trace_id != trace) continue;
    TraceFilter f = o.filter;
    f.trace_id = trace;
    Where w = whereOf(f);
    w.add("r.id <= ?" + std::to_string(w.values.size() + 1), o.after_request);
    if (!scan(db, w, cx, done, error)) return false;
    if (!*done) break;
  }
  return true;
}

int64_t newestRequest(sqlite3* db) {
  Statement s(db, "SELECT coalesce(max(id), 0) FROM requests");
  return s.ok() && s.step() == SQLITE_ROW ? s.columnInt(0) : 0;
}

}  // namespace

bool captureCases(sqlite3* db, const CaptureOptions& options, std::set<std::string>* known,
                  std::vector<CapturedCase>* out, CaptureReport* report, std::string* error) {
  if (!validFilter(options.filter, error)) return false;
  // Row ids count on from the newest row, so they only start over when retention emptied the
  // table: then every row is newer than the last round, whatever its id.
  CaptureOptions o = options;
  if (newestRequest(db) < o.after_request) o.after_request = 0;
  if (newestFeedback(db) < o.after_feedback) o.after_feedback = 0;
  // Never behind where this round starts: feedback on an older request must not move it back.
  report->last_request = std::max(report->last_request, o.after_request);
  Capturing cx{o, {}, known, out, report};
  for (const auto& p : o.redact) {
    auto re = std::make_unique<RE2>(p, RE2::Quiet);
    if (!re->ok()) {
      *error = "redact " + p + ": " + re->error();
      return false;
    }
    cx.patterns.push_back(std::move(re));
  }
  // Read first: feedback stored while this round runs is the next round's.
  int64_t newest_feedback = newestFeedback(db);
  Where w = whereOf(o.filter);
  w.add("r.id > ?" + std::to_string(w.values.size() + 1), o.after_request);
  bool done = true;
  if (!scan(db, w, cx, &done, error)) return false;
  if (done && o.after_request > 0 && o.feedback_below >= 0 && !scanNewFeedback(db, cx, &done, error)) return false;
  // A round cut short by max_cases looks at the same feedback again next time.
  report->last_feedback = done ? newest_feedback : o.after_feedback;
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
