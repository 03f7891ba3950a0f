// One simulated conversation: the persona route writes each user message (its persona, the goal
// and the conversation so far with the roles flipped, so that it speaks as the user), the target
// answers it through the real chain, until the turn limit, the persona's stop phrase, the goal
// judged met, a guardrail's denial or an error.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "eval/chat_backend.h"
#include "eval/eval_types.h"
#include "eval/judge.h"
#include "eval/simulation_file.h"

namespace outrigger::eval {

struct ConversationPlan {
  const SimulationConfig* cfg = nullptr;
  const SimTargetConfig* target = nullptr;
  const ScenarioConfig* scenario = nullptr;
  const Persona* persona = nullptr;
  const Judge* goal_judge = nullptr;  // asked after each answer when scenario->stop_when_goal_met
};

struct Conversation {
  std::vector<Turn> turns;
  std::string ended;  // max_turns, stop_phrase, goal_met, denied, target_error, persona_error, judge_error
  std::string error;  // for target_error, persona_error and judge_error: what went wrong
};

// Plays the conversation; blocks until it ends. Never throws; errors end it and are recorded.
Conversation playConversation(ChatBackend* backend, const ConversationPlan& plan, std::mt19937* rng);

// The conversation as the target saw it: its system message, then user and assistant turns.
std::vector<client::Message> targetMessages(const SimTargetConfig& target, const std::vector<Turn>& turns);

// The transcript as the judge reads it: every turn, a denial or error marked as such.
std::string transcriptText(const std::vector<Turn>& turns);

}  // namespace outrigger::eval
