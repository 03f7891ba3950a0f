#include "traces/drift_population.h"

#include <rapidjson/document.h>

#include <sstream>

#include "bounded_json.h"
#include "traces/query_parts.h"

namespace outrigger::traces {

using namespace query_parts;

namespace {

std::string promptOf(const std::string& id, const std::string& version) {
  if (id.empty() && version.empty()) return "";
  return id + "@" + version;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

bool isJudge(const rapidjson::Value& score) {
  if (!score.IsObject() || !score.HasMember("scorer") || !score["scorer"].IsString()) return false;
  return std::string_view(score["scorer"].GetString()).rfind("judge", 0) == 0;
}

}  // namespace

bool loadDriftWindow(sqlite3* db, const TraceFilter& filter, const QueryLimits& limits, bool with_answers,
                     DriftPopulation* out, std::string* error, uint64_t max_requests) {
  if (!validFilter(filter, error)) return false;
  QueryDeadline deadline(db, limits);
  Where w = whereOf(filter);
  {
    Statement count(db, "SELECT count(*) FROM requests r" + w.sql);
    if (!count.ok()) {
      *error = deadline.error("drift");
      return false;
    }
    w.bind(count);
    if (count.step() != SQLITE_ROW) {
      *error = deadline.error("drift");
      return false;
    }
    uint64_t n = uint64_t(count.columnInt(0));
    if (max_requests && n > max_requests) {
      out->sampled_one_in = (n + max_requests - 1) / max_requests;
      w.add("(r.id % ?" + std::to_string(w.values.size() + 1) + ") = 0", int64_t(out->sampled_one_in));
    }
  }
  std::string sql =
      "SELECT r.route, r.prompt_id, r.prompt_version, r.status, r.finish_reason, r.output_tokens, r.duration_us,"
      " (SELECT group_concat((v.value ->> 'guardrail') || '/' || (v.value ->> 'verdict'), char(10))"
      "  FROM json_each(r.verdicts) v WHERE v.value ->> 'verdict' <> 'pass'),"
      " (SELECT avg(score) FROM feedback fb WHERE " + std::string(kFeedbackOfRequest) + "), " +
      std::string(with_answers ? "coalesce(r.answer, ''), coalesce(r.prompt, '')" : "'', ''") + " FROM requests r" + w.sql +
      " ORDER BY r.start_unix_ns";
  Statement s(db, sql);
  if (!s.ok()) {
    *error = deadline.error("drift");
    return false;
  }
  w.bind(s);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    DriftSample x;
    x.route = s.columnText(0);
    x.prompt = promptOf(s.columnText(1), s.columnText(2));
    x.error = s.columnText(3) != "OK";
    x.refusal = isRefusal(s.columnText(4));
    x.answer_tokens = double(s.columnInt(5));
    x.latency_ms = double(s.columnInt(6)) / 1000.0;
    x.verdicts = lines(s.columnText(7));
    if (!s.columnIsNull(8)) x.feedback = s.columnReal(8);
    x.answer = s.columnText(9);
    x.prompt_text = promptConversation(s.columnText(10));
    out->samples.push_back(std::move(x));
  }
  if (rc != SQLITE_DONE) {
    *error = deadline.error("drift");
    return false;
  }
  return true;
}

bool loadEvalBaseline(const std::string& results_json, const std::string& route, DriftPopulation* out,
                      std::string* error) {
  rapidjson::Document doc;
  if (!json::parse(results_json, &doc) || !doc.IsObject() || !doc.HasMember("targets") || !doc["targets"].IsArray()) {
    *error = "not the results of outrigger eval run --json (no \"targets\" array)";
    return false;
  }
  out->verdicts_known = false;
  out->refusals_known = false;
  size_t before = out->samples.size();
  for (const auto& target : doc["targets"].GetArray()) {
    if (!target.IsObject() || !target.HasMember("route") || !target["route"].IsString() || !target.HasMember("cases") ||
        !target["cases"].IsArray()) {
      *error = "a target of the results has no route or no cases";
      return false;
    }
    std::string target_route = target["route"].GetString();
    if (!route.empty() && target_route != route) continue;
    for (const auto& c : target["cases"].GetArray()) {
      if (!c.IsObject()) continue;
      DriftSample x;
      x.route = target_route;
      // A case the model did not answer carries its error; a failed case is an answer all the same.
      x.error = c.HasMember("error");
      if (c.HasMember("completion_tokens") && c["completion_tokens"].IsNumber()) {
        x.answer_tokens = c["completion_tokens"].GetDouble();
      }
      if (c.HasMember("latency_ms") && c["latency_ms"].IsNumber()) x.latency_ms = c["latency_ms"].GetDouble();
      if (c.HasMember("output") && c["output"].IsString()) x.answer = c["output"].GetString();
      if (c.HasMember("scores") && c["scores"].IsArray()) {
        double sum = 0;
        int n = 0;
        for (const auto& score : c["scores"].GetArray()) {
          if (!isJudge(score) || score.HasMember("error") || !score.HasMember("score") || !score["score"].IsNumber()) {
            continue;
          }
          sum += score["score"].GetDouble();
          ++n;
        }
        if (n) x.judge = sum / n;
      }
      out->samples.push_back(std::move(x));
    }
  }
  if (out->samples.size() == before) {
    *error = route.empty() ? "the results hold no cases" : "the results hold no cases for route " + route;
    return false;
  }
  return true;
}

}  // namespace outrigger::traces
