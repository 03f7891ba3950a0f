// The TOML config parser, shared by the files that parse its sections (config.cc: routes,
// instances and the whole file; front_config.cc: [server], [http], [admin]). Internal.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "config/config.h"

namespace outrigger::config::detail {

// Errors carry "file:line: message"; the first error aborts parsing.
class ParseError {
 public:
  explicit ParseError(std::string text) : text_(std::move(text)) {}
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

class Parser {
 public:
  Parser(std::string_view source, std::string_view base_dir) : source_(source), base_dir_(base_dir) {}

  Settings run(const toml::table& root);

 private:
  std::string where(const toml::node& n) const {
    return source_ + ":" + std::to_string(n.source().begin.line);
  }
  [[noreturn]] void fail(const toml::node& n, const std::string& msg) const {
    throw ParseError(where(n) + ": " + msg);
  }
  void checkKeys(const toml::table& t, const std::set<std::string>& allowed, const std::string& ctx) const;
  std::string str(const toml::node& n, const std::string& key) const;
  // An integer in [min, max], else a ParseError naming the range.
  uint64_t uint(const toml::node& n, const std::string& key, uint64_t max, uint64_t min = 0) const;
  std::vector<std::string> strList(const toml::node& n, const std::string& key) const;
  std::string substitute(const toml::node& n, std::string_view text) const;

  void server(const toml::table& t, ServerSettings* s) const;
  void http(const toml::table& t, HttpSettings* s) const;
  void admin(const toml::table& t, AdminSettings* s) const;
  void prices(const toml::table& t, PriceSettings* s) const;  // price_config.cc
  void metrics(const toml::table& t, MetricsSettings* s) const;  // alert_config.cc
  void alerts(const toml::table& t, AlertSettings* s) const;     // alert_config.cc
  AlertRuleSettings alertRule(const toml::node& n) const;
  double number(const toml::node& n, const std::string& key) const;
  PeerRule peer(const toml::node& n) const;
  VirtualKey virtualKey(const toml::node& n) const;
  std::string address(const toml::node& n, const std::string& key) const;
  bool boolean(const toml::node& n, const std::string& key) const;
  uint32_t fileMode(const toml::node& n, const std::string& key) const;
  InstanceSettings instance(const std::string& name, const toml::table& t) const;
  RouteSettings route(const std::string& name, const toml::table& t) const;
  TargetSettings target(const toml::node& n, const std::string& ctx) const;
  void retry(const toml::table& t, const std::string& ctx, resilience::RetryPolicy* p) const;
  void breaker(const toml::table& t, const std::string& ctx, resilience::BreakerPolicy* p) const;
  void limits(const toml::table& t, const std::string& ctx, resilience::LimitPolicy* p) const;
  void hedge(const toml::table& t, const std::string& ctx, resilience::HedgePolicy* p) const;
  std::string fallbackAnswer(const toml::node& n, const std::string& ctx) const;
  static constexpr size_t kMaxConfigDepth = 128;
  void toJson(const toml::node& n, const std::string& pointer, rapidjson::Writer<rapidjson::StringBuffer>* w,
              std::map<std::string, std::string>* lines, size_t depth = 0) const;

  std::string source_;
  std::string base_dir_;
};

}  // namespace outrigger::config::detail
