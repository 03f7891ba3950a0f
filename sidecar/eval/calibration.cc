#include "eval/calibration.h"

#include <fstream>

#include "bounded_json.h"
#include "eval/dataset.h"
#include "eval/json_text.h"

namespace outrigger::eval {

namespace {

// The judge's view of a labelled item's input: `input` as text, or its messages.
std::string itemInput(const rapidjson::Value& item) {
  if (item.HasMember("messages") && item["messages"].IsArray()) {
    std::vector<client::Message> messages;
    for (const auto& m : item["messages"].GetArray()) messages.push_back({stringMember(m, "role"), stringMember(m, "content"), "", "", {}});
    return conversationText(messages);
  }
  return conversationText({{"user", stringMember(item, "input"), "", "", {}}});
}

}  // namespace

Calibration calibrate(const Judge& judge, const std::string& labels_path) {
  Calibration cal;
  std::ifstream in(labels_path);
  if (!in) {
    cal.error = "cannot read the labelled set " + labels_path;
    return cal;
  }
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    rapidjson::Document item;
    if (!json::parse(line, &item) || !item.IsObject() || !item.HasMember("pass") || !item["pass"].IsBool()) {
      cal.error = labels_path + ":" + std::to_string(n) + ": a labelled item needs input, output and a boolean pass";
      return cal;
    }
    ++cal.total;
    std::string id = item.HasMember("id") ? stringMember(item, "id") : "line-" + std::to_string(n), error;
    auto answer = judge.grade(itemInput(item), stringMember(item, "output"), &error);
    if (!answer) {
      ++cal.errors;
      continue;
    }
    if (answer->pass == item["pass"].GetBool()) ++cal.agreed;
    else cal.disagreements.push_back(id);
  }
  uint32_t judged = cal.total - cal.errors;
  cal.agreement = judged ? static_cast<double>(cal.agreed) / judged : 0;
  if (cal.total == 0) cal.error = "the labelled set " + labels_path + " is empty";
  return cal;
}

}  // namespace outrigger::eval
