#include "eval/conversation.h"

#include "eval/retrying_call.h"

namespace outrigger::eval {

namespace {

// Chat APIs expect a user message first; this one starts the persona's side of the conversation.
constexpr const char* kPersonaStart = "(The conversation starts now. Write your first message to the assistant.)";

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The persona route's request: its frame as the system message, then the conversation with the
// roles flipped (the target's answers are what the persona hears; its own messages are its
// previous replies).
client::ChatRequest personaRequest(const ConversationPlan& plan, const std::vector<Turn>& turns) {
  const SimulationConfig& cfg = *plan.cfg;
  client::ChatRequest req;
  req.model = cfg.persona.route;
  req.temperature = static_cast<float>(cfg.persona.temperature);
  req.seed = cfg.persona.seed;
  if (cfg.persona.max_tokens) req.max_tokens = cfg.persona.max_tokens;
  req.extra_json = cfg.persona.extra_json;
  req.timeout = std::chrono::milliseconds(cfg.timeout_ms);
  std::string system = personaSystemPrompt(cfg.personas, *plan.persona, plan.scenario->goal, plan.scenario->stop_phrase);
  req.messages.push_back({"system", system, "", "", {}});
  req.messages.push_back({"user", kPersonaStart, "", "", {}});
  for (const auto& t : turns) {
    req.messages.push_back({"assistant", t.user, "", "", {}});
    req.messages.push_back({"user", t.answer, "", "", {}});
  }
  return req;
}

// The persona's next message, or false with `error` when its route did not give one.
bool nextUserMessage(ChatBackend* backend, const ConversationPlan& plan, const std::vector<Turn>& turns, Turn* turn,
                     std::mt19937* rng, std::string* error) {
  if (turns.empty() && !plan.scenario->opening.empty()) {
    turn->user = plan.scenario->opening;
    return true;
  }
  CallOutcome call = callWithRetries(backend, personaRequest(plan, turns), {}, {plan.cfg->retries, plan.cfg->retry_backoff_ms}, rng);
  turn->persona_latency_ms = call.latency_ms;
  if (!call.result.ok()) {
    *error = "the persona route " + plan.cfg->persona.route + " failed: " + call.result.error().toString();
    return false;
  }
  turn->persona_cost_usd = call.result.value().cost_usd;
  turn->user = trimmed(call.result.value().content);
  if (turn->user.empty()) {
    *error = "the persona route " + plan.cfg->persona.route + " answered nothing";
    return false;
  }
  return true;
}

// Sends the turn's message with the conversation so far; records the answer or the error.
void answerTurn(ChatBackend* backend, const ConversationPlan& plan, const std::vector<Turn>& before, Turn* turn,
                std::mt19937* rng) {
  client::ChatRequest req;
  req.model = plan.target->target.route;
  req.extra_json = plan.target->target.extra_json;
  req.timeout = std::chrono::milliseconds(plan.cfg->timeout_ms);
  req.messages = targetMessages(*plan.target, before);
  req.messages.push_back({"user", turn->user, "", "", {}});
  CallOutcome call = callWithRetries(backend, req, {}, {plan.cfg->retries, plan.cfg->retry_backoff_ms}, rng);
  turn->latency_ms = call.latency_ms;
  turn->attempts = call.attempts;
  if (!call.result.ok()) {
    const client::Error& e = call.result.error();
    turn->error = e.toString();
    turn->error_code = client::statusName(e.code);
    turn->verdicts = e.verdicts;
    return;
  }
  const client::Response& r = call.result.value();
  turn->answer = r.content;
  turn->verdicts = r.verdicts;
  turn->cost_usd = r.cost_usd;
  turn->prompt_tokens = r.usage.prompt_tokens;
  turn->completion_tokens = r.usage.completion_tokens;
  turn->trace_id = r.trace_id;
}

}  // namespace

std::vector<client::Message> targetMessages(const SimTargetConfig& target, const std::vector<Turn>& turns) {
  std::vector<client::Message> messages;
  if (!target.system.empty()) messages.push_back({"system", target.system, "", "", {}});
  for (const auto& t : turns) {
    if (!t.sent) continue;
    messages.push_back({"user", t.user, "", "", {}});
    if (t.error.empty()) messages.push_back({"assistant", t.answer, "", "", {}});
  }
  return messages;
}

std::string transcriptText(const std::vector<Turn>& turns) {
  std::string text;
  for (const auto& t : turns) {
    text += "[user] " + t.user + "\n";
    if (!t.sent) continue;
    if (t.error.empty()) text += "[assistant] " + t.answer + "\n";
    else if (t.error_code == "PERMISSION_DENIED") text += "[the message was denied before reaching the assistant: " + t.error + "]\n";
    else text += "[the assistant did not answer: " + t.error + "]\n";
  }
  return text;
}

Conversation playConversation(ChatBackend* backend, const ConversationPlan& plan, std::mt19937* rng) {
  Conversation c;
  const ScenarioConfig& s = *plan.scenario;
  for (uint32_t n = 0; n < s.max_turns; ++n) {
    Turn turn;
    if (!nextUserMessage(backend, plan, c.turns, &turn, rng, &c.error)) {
      c.ended = "persona_error";
      return c;
    }
    if (size_t stop = turn.user.find(s.stop_phrase); stop != std::string::npos) {
      // The persona is done (goal met or given up); its closing words go in the transcript only.
      turn.user = trimmed(turn.user.substr(0, stop));
      turn.sent = false;
      c.turns.push_back(std::move(turn));
      c.ended = "stop_phrase";
      return c;
    }
    answerTurn(backend, plan, c.turns, &turn, rng);
    c.turns.push_back(std::move(turn));
    const Turn& last = c.turns.back();
    if (!last.error.empty()) {
      c.ended = last.error_code == "PERMISSION_DENIED" ? "denied" : "target_error";
      if (c.ended == "target_error") c.error = last.error;
      return c;
    }
    if (s.stop_when_goal_met && plan.goal_judge) {
      auto grade = plan.goal_judge->grade(transcriptText(c.turns), last.answer, &c.error);
      if (!grade) {
        c.ended = "judge_error";
        return c;
      }
      if (grade->pass) {
        c.ended = "goal_met";
        return c;
      }
    }
  }
  c.ended = "max_turns";
  return c;
}

}  // namespace outrigger::eval
