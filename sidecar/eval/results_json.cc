#include <rapidjson/prettywriter.h>

#include "eval/json_text.h"
#include "eval/report_stats.h"
#include "eval/reports.h"

namespace outrigger::eval {

namespace {

using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value stringList(const std::vector<std::string>& list, Alloc& a) {
  rapidjson::Value v(rapidjson::kArrayType);
  for (const auto& s : list) v.PushBack(stringValue(s, a), a);
  return v;
}

rapidjson::Value scoreJson(const Score& s, Alloc& a) {
  rapidjson::Value v(rapidjson::kObjectType);
  v.AddMember("scorer", stringValue(s.scorer, a), a);
  v.AddMember("score", s.score, a);
  v.AddMember("pass", s.pass, a);
  v.AddMember("gating", s.gating, a);
  v.AddMember("reason", stringValue(s.reason, a), a);
  if (!s.error.empty()) v.AddMember("error", stringValue(s.error, a), a);
  return v;
}

rapidjson::Value turnJson(const Turn& t, Alloc& a) {
  rapidjson::Value v(rapidjson::kObjectType);
  v.AddMember("user", stringValue(t.user, a), a);
  v.AddMember("sent", t.sent, a);
  if (!t.sent) return v;
  v.AddMember("answer", stringValue(t.answer, a), a);
  if (!t.error.empty()) {
    v.AddMember("error", stringValue(t.error, a), a);
    v.AddMember("error_code", stringValue(t.error_code, a), a);
  }
  rapidjson::Value verdicts(rapidjson::kArrayType);
  static const char* const kVerdictNames[] = {"pass", "flag", "deny", "rewrite", "skipped", "error"};
  for (const auto& g : t.verdicts) {
    rapidjson::Value verdict(rapidjson::kObjectType);
    verdict.AddMember("guardrail", stringValue(g.guardrail, a), a);
    bool known = g.verdict >= 0 && g.verdict < 6;
    verdict.AddMember("verdict", stringValue(known ? kVerdictNames[g.verdict] : std::to_string(g.verdict), a), a);
    verdict.AddMember("reason", stringValue(g.reason, a), a);
    verdicts.PushBack(verdict, a);
  }
  v.AddMember("verdicts", verdicts, a);
  v.AddMember("latency_ms", t.latency_ms, a);
  v.AddMember("cost_usd", t.cost_usd, a);
  v.AddMember("attempts", t.attempts, a);
  v.AddMember("prompt_tokens", t.prompt_tokens, a);
  v.AddMember("completion_tokens", t.completion_tokens, a);
  v.AddMember("trace_id", stringValue(t.trace_id, a), a);
  v.AddMember("persona_latency_ms", t.persona_latency_ms, a);
  v.AddMember("persona_cost_usd", t.persona_cost_usd, a);
  return v;
}

rapidjson::Value caseJson(const CaseResult& c, Alloc& a) {
  rapidjson::Value v(rapidjson::kObjectType);
  v.AddMember("id", stringValue(c.input->id, a), a);
  v.AddMember("tags", stringList(c.input->tags, a), a);
  v.AddMember("status", rapidjson::StringRef(caseStatusName(c.status)), a);
  if (!c.input->expected.empty()) v.AddMember("expected", stringValue(c.input->expected, a), a);
  v.AddMember("output", stringValue(c.output.content, a), a);
  rapidjson::Value calls(rapidjson::kArrayType);
  for (const auto& t : c.output.tool_calls) {
    rapidjson::Value call(rapidjson::kObjectType);
    call.AddMember("name", stringValue(t.name, a), a);
    call.AddMember("arguments", stringValue(t.arguments, a), a);
    calls.PushBack(call, a);
  }
  v.AddMember("tool_calls", calls, a);
  if (!c.output.error.empty()) {
    v.AddMember("error", stringValue(c.output.error, a), a);
    v.AddMember("error_code", stringValue(c.output.error_code, a), a);
  }
  v.AddMember("latency_ms", c.output.latency_ms, a);
  v.AddMember("cost_usd", c.output.cost_usd, a);
  v.AddMember("attempts", c.output.attempts, a);
  v.AddMember("prompt_tokens", c.output.prompt_tokens, a);
  v.AddMember("completion_tokens", c.output.completion_tokens, a);
  v.AddMember("trace_id", stringValue(c.output.trace_id, a), a);
  rapidjson::Value scores(rapidjson::kArrayType);
  for (const auto& s : c.scores) scores.PushBack(scoreJson(s, a), a);
  v.AddMember("scores", scores, a);
  if (!c.ended.empty()) {
    v.AddMember("ended", stringValue(c.ended, a), a);
    rapidjson::Value metadata(rapidjson::kObjectType);  // the scenario, persona and goal
    for (const auto& [key, value] : c.input->metadata) metadata.AddMember(stringValue(key, a), stringValue(value, a), a);
    v.AddMember("metadata", metadata, a);
    rapidjson::Value turns(rapidjson::kArrayType);
    for (const auto& t : c.turns) turns.PushBack(turnJson(t, a), a);
    v.AddMember("turns", turns, a);
  }
  return v;
}

rapidjson::Value gateJson(const GateResult& g, Alloc& a) {
  rapidjson::Value v(rapidjson::kObjectType);
  v.AddMember("compared", g.compared, a);
  if (!g.compared) return v;
  v.AddMember("baseline_pass_rate", g.baseline_pass_rate, a);
  v.AddMember("delta", g.delta, a);
  v.AddMember("ci_low", g.low, a);
  v.AddMember("ci_high", g.high, a);
  v.AddMember("paired_cases", g.paired_cases, a);
  v.AddMember("p_value", g.p_value, a);
  v.AddMember("regression", g.regression, a);
  v.AddMember("summary", stringValue(gateSentence(g), a), a);
  rapidjson::Value changes(rapidjson::kArrayType);
  for (const auto& c : g.changes) {
    rapidjson::Value ch(rapidjson::kObjectType);
    ch.AddMember("id", stringValue(c.id, a), a);
    ch.AddMember("before", stringValue(c.before, a), a);
    ch.AddMember("after", stringValue(c.after, a), a);
    changes.PushBack(ch, a);
  }
  v.AddMember("changes", changes, a);
  return v;
}

rapidjson::Value targetJson(const TargetReport& t, Alloc& a) {
  const TargetResult& r = t.result;
  rapidjson::Value v(rapidjson::kObjectType);
  v.AddMember("name", stringValue(r.name, a), a);
  v.AddMember("route", stringValue(r.route, a), a);
  v.AddMember("cases_total", static_cast<uint64_t>(r.cases.size()), a);
  v.AddMember("passed", r.passed, a);
  v.AddMember("failed", r.failed, a);
  v.AddMember("errors", r.errors, a);
  v.AddMember("pass_rate", r.passRate(), a);
  v.AddMember("cost_usd", r.cost_usd, a);
  rapidjson::Value latency(rapidjson::kObjectType);
  latency.AddMember("p50", latencyQuantile(r, 0.5), a);
  latency.AddMember("p95", latencyQuantile(r, 0.95), a);
  v.AddMember("latency_ms", latency, a);
  v.AddMember("gate", gateJson(t.gate, a), a);
  rapidjson::Value tags(rapidjson::kObjectType);
  for (const auto& [name, s] : t.tags) {
    rapidjson::Value tag(rapidjson::kObjectType);
    tag.AddMember("passed", s.passed, a);
    tag.AddMember("total", s.total, a);
    tag.AddMember("pass_rate", s.total ? static_cast<double>(s.passed) / s.total : 0.0, a);
    if (s.baseline_rate >= 0) tag.AddMember("baseline_pass_rate", s.baseline_rate, a);
    tags.AddMember(stringValue(name, a), tag, a);
  }
  v.AddMember("tags", tags, a);
  rapidjson::Value cases(rapidjson::kArrayType);
  for (const auto& c : r.cases) cases.PushBack(caseJson(c, a), a);
  v.AddMember("cases", cases, a);
  return v;
}

}  // namespace

std::string resultsJson(const RunReport& run) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("version", 1, a);
  doc.AddMember("name", stringValue(run.name, a), a);
  doc.AddMember("started_at", stringValue(run.started_at, a), a);
  doc.AddMember("duration_s", run.duration_s, a);
  doc.AddMember("verdict", stringValue(run.verdict, a), a);
  doc.AddMember("exit_code", run.exit_code, a);
  doc.AddMember("notes", stringList(run.notes, a), a);
  rapidjson::Value judge(rapidjson::kObjectType);
  judge.AddMember("calls", run.judge_calls, a);
  judge.AddMember("cache_hits", run.judge_cache_hits, a);
  doc.AddMember("judge", judge, a);
  rapidjson::Value targets(rapidjson::kArrayType);
  for (const auto& t : run.targets) targets.PushBack(targetJson(t, a), a);
  doc.AddMember("targets", targets, a);
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

}  // namespace outrigger::eval
