#include "eval/baseline.h"

#include <fstream>
#include <set>
#include <sstream>

#include "bounded_json.h"
#include "eval/bootstrap.h"
#include "eval/json_text.h"

namespace outrigger::eval {

bool readBaseline(const std::string& path, Baseline* out, std::string* error) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  if (!in || !json::parse(text.str(), &doc) || !doc.IsObject() || !doc.HasMember("targets") || !doc["targets"].IsArray()) {
    *error = "the baseline " + path + " is not an eval results JSON";
    return false;
  }
  for (const auto& t : doc["targets"].GetArray()) {
    if (!t.IsObject() || !t.HasMember("cases") || !t["cases"].IsArray()) continue;
    auto& cases = (*out)[stringMember(t, "name")];
    for (const auto& c : t["cases"].GetArray()) {
      BaselineCase b;
      b.status = stringMember(c, "status");
      if (c.HasMember("tags") && c["tags"].IsArray()) {
        for (const auto& tag : c["tags"].GetArray()) {
          if (tag.IsString()) b.tags.push_back(tag.GetString());
        }
      }
      cases[stringMember(c, "id")] = std::move(b);
    }
  }
  return true;
}

GateResult compareWithBaseline(const TargetResult& result, const std::map<std::string, BaselineCase>& baseline) {
  GateResult g;
  g.compared = true;
  uint32_t base_passed = 0;
  for (const auto& [id, b] : baseline) base_passed += b.status == "pass";
  g.baseline_pass_rate = baseline.empty() ? 0 : static_cast<double>(base_passed) / baseline.size();
  std::vector<uint8_t> before, after;
  for (const auto& r : result.cases) {
    auto it = baseline.find(r.input->id);
    std::string now = caseStatusName(r.status);
    if (it == baseline.end()) {
      g.changes.push_back({r.input->id, "new", now});
      continue;
    }
    if (it->second.status != now) g.changes.push_back({r.input->id, it->second.status, now});
    // A case that could not be evaluated in either run says nothing about a regression.
    if (it->second.status == "error" || r.status == CaseStatus::kError) continue;
    before.push_back(it->second.status == "pass");
    after.push_back(r.status == CaseStatus::kPass);
  }
  std::set<std::string> ids;
  for (const auto& r : result.cases) ids.insert(r.input->id);
  for (const auto& [id, b] : baseline) {
    if (!ids.count(id)) g.changes.push_back({id, b.status, "removed"});
  }
  g.paired_cases = static_cast<uint32_t>(before.size());
  BootstrapInterval ci = pairedBootstrap(before, after);
  g.delta = ci.delta;
  g.low = ci.low;
  g.high = ci.high;
  uint32_t worse = 0, better = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    worse += before[i] && !after[i];
    better += !before[i] && after[i];
  }
  g.p_value = mcnemarExactP(worse, better);
  g.regression = worse > better && g.p_value < 0.05;
  return g;
}

std::map<std::string, TagStats> tagBreakdown(const TargetResult& result, const std::map<std::string, BaselineCase>* baseline) {
  std::map<std::string, TagStats> tags;
  for (const auto& r : result.cases) {
    std::vector<std::string> names = r.input->tags;
    names.push_back("(all)");
    for (const auto& t : names) {
      tags[t].total++;
      tags[t].passed += r.status == CaseStatus::kPass;
    }
  }
  if (!baseline) return tags;
  std::map<std::string, std::pair<uint32_t, uint32_t>> before;  // passed, total
  for (const auto& [id, b] : *baseline) {
    std::vector<std::string> names = b.tags;
    names.push_back("(all)");
    for (const auto& t : names) {
      before[t].second++;
      before[t].first += b.status == "pass";
    }
  }
  for (auto& [t, s] : tags) {
    auto it = before.find(t);
    if (it != before.end() && it->second.second > 0) s.baseline_rate = static_cast<double>(it->second.first) / it->second.second;
  }
  return tags;
}

}  // namespace outrigger::eval
