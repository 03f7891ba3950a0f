#include "eval/judge.h"

#include "bounded_json.h"
#include "common/utf8.h"

namespace outrigger::eval {

namespace {

constexpr const char* kInstructions =
    "You grade an answer against a rubric. Reply with one JSON object and nothing else: "
    "{\"score\": <a number from 0 to 1>, \"reason\": \"<one sentence>\", \"pass\": <true or false>}.";

}  // namespace

std::string conversationText(const std::vector<client::Message>& messages) {
  std::string text;
  for (const auto& m : messages) text += "[" + m.role + "] " + m.content + "\n";
  return text;
}

std::optional<JudgeAnswer> Judge::parseAnswer(const std::string& text, double threshold, std::string* error) {
  // The first object with a numeric score, read up to its own end: text after it may hold braces
  // of its own ("... omits {order_id}"). A few starts are tried, not every brace of a long reply.
  rapidjson::Document doc;
  bool found = false;
  size_t tries = 0;
  for (size_t open = text.find('{'); !found && open != std::string::npos && tries < 16; open = text.find('{', open + 1)) {
    ++tries;
    found = json::parse<rapidjson::kParseStopWhenDoneFlag>(std::string_view(text).substr(open), &doc) && doc.IsObject() &&
            doc.HasMember("score") && doc["score"].IsNumber();
  }
  if (!found) {
    *error = "the judge did not answer {score, reason, pass}: " + std::string(utf8Prefix(text, 200));
    return std::nullopt;
  }
  JudgeAnswer a;
  a.score = doc["score"].GetDouble();
  a.pass_given = doc.HasMember("pass") && doc["pass"].IsBool();
  a.pass = a.pass_given ? doc["pass"].GetBool() : a.score >= threshold;
  if (doc.HasMember("reason") && doc["reason"].IsString()) a.reason = doc["reason"].GetString();
  return a;
}

std::optional<JudgeAnswer> Judge::grade(const std::string& input, const std::string& output, std::string* error) const {
  std::string key = JudgeCache::key(route_, rubric_, input, output);
  if (auto cached = cache_->lookup(key)) {
    if (!cached->pass_given) cached->pass = cached->score >= threshold_;  // this run's threshold
    return cached;
  }
  client::ChatRequest req;
  req.model = route_;
  req.temperature = 0;
  req.timeout = std::chrono::milliseconds(timeout_ms_);
  req.messages.push_back({"system", kInstructions, "", "", {}});
  req.messages.push_back({"user", "Rubric:\n" + rubric_ + "\n\nInput:\n" + input + "\nAnswer:\n" + output, "", "", {}});
  cache_->calls.fetch_add(1);
  auto r = client_->chat(req, {});
  if (!r.ok()) {
    *error = "the judge route " + route_ + " failed: " + r.error().toString();
    return std::nullopt;
  }
  auto answer = parseAnswer(r.value().content, threshold_, error);
  if (answer) cache_->store(key, *answer);
  return answer;
}

}  // namespace outrigger::eval
