// The built-in plugins through the real loader: their example configs build a chain, and the
// rules guardrail decides as configured.
#include <catch2/catch.hpp>

#include <outrigger/plugin.hpp>
#include <rapidjson/document.h>

#include <functional>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "support/chain_build.h"
#include "config/config.h"
#include "plugin/loader.h"
#include "support/daemon_process.h"

using namespace outrigger;

TEST_CASE("every built-in plugin loads and exposes a kind, stability and schema") {
  plugin::PluginCatalog catalog;
  REQUIRE(catalog.addDirectory(OUTRIGGER_PLUGIN_DIR).isOk());
  for (auto [kind, name] : {std::pair{OUTRIGGER_KIND_PROVIDER, "mock"}, {OUTRIGGER_KIND_GUARDRAIL, "rules"},
                            {OUTRIGGER_KIND_CACHE, "memory"}, {OUTRIGGER_KIND_EXPORTER, "jsonl"},
                            {OUTRIGGER_KIND_LIMITER, "memory"}, {OUTRIGGER_KIND_LIMITER, "budget"}}) {
    const plugin::PluginType* t = catalog.find(kind, name);
    REQUIRE(t);
    CHECK(t->schema_json.find("additionalProperties") != std::string::npos);
    CHECK(t->abi_major == OUTRIGGER_ABI_MAJOR);
  }
}

// The plugins read integers as 32 bits (GetUint) or 64 (GetUint64); a schema without a maximum
// lets a value through that the plugin cannot hold, and RapidJSON asserts (or a release build
// truncates it: a 2^32 `max_files` became 0).
TEST_CASE("every integer in every built-in plugin's config schema has a maximum") {
  plugin::PluginCatalog catalog;
  REQUIRE(catalog.addDirectory(OUTRIGGER_PLUGIN_DIR).isOk());
  std::vector<std::string> unbounded;
  std::function<void(const rapidjson::Value&, const std::string&)> walk = [&](const rapidjson::Value& v,
                                                                               const std::string& at) {
    if (v.IsArray()) {
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) walk(v[i], at + "/" + std::to_string(i));
      return;
    }
    if (!v.IsObject()) return;
    auto type = v.FindMember("type");
    bool integer = type != v.MemberEnd() && type->value.IsString() && std::string(type->value.GetString()) == "integer";
    if (integer && !v.HasMember("maximum")) unbounded.push_back(at);
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) walk(it->value, at + "/" + it->name.GetString());
  };
  REQUIRE(catalog.types().size() >= 15);
  for (const auto& t : catalog.types()) {
    rapidjson::Document d;
    d.Parse(t->schema_json.c_str());
    INFO(t->name);
    REQUIRE(!d.HasParseError());
    walk(d, std::string(plugin::kindName(t->kind)) + "." + t->name);
  }
  std::string list;
  for (const auto& u : unbounded) list += u + "\n";
  INFO(list);
  CHECK(unbounded.empty());
}

TEST_CASE("the example configs build a chain with every instance created") {
  for (const char* file : {"/config/default.toml", "/config/full.toml"}) {
    INFO(file);
    auto settings = config::loadConfigFile(std::string(OUTRIGGER_SOURCE_DIR) + file);
    REQUIRE(settings.ok());
    settings->plugin_dirs = {OUTRIGGER_PLUGIN_DIR};
    std::string dir = testing::makeTempDir();
    for (auto& i : settings->instances) {
      if (i.kind == "exporter") i.config_json = R"({"path": ")" + dir + "/" + i.name + "\"}";
    }
    auto chain = chain::buildChain(settings.value(), 2, 1);
    REQUIRE(chain.ok());
    CHECK(chain.value()->workers.size() == 2);
  }
}

TEST_CASE("an instance no route names is not created, but its type and config are checked") {
  const std::string routes = "[instances.mock]\ntype = \"provider.mock\"\n[routes.a]\nprovider = \"mock\"\n";
  CHECK(testing::chainBuildError(routes + "[instances.spare]\ntype = \"cache.memory\"\n").empty());
  CHECK(testing::chainBuildError(routes + "[instances.spare]\ntype = \"guardrail.nonexistent\"\n")
            .find("instance 'spare': no plugin provides guardrail type 'nonexistent'") != std::string::npos);
  std::string e = testing::chainBuildError(routes + "[instances.spare]\ntype = \"cache.memory\"\n"
                                                    "[instances.spare.config]\nbogus_key = 1\n");
  CHECK(e.find("instance 'spare'") != std::string::npos);
  CHECK(e.find("bogus_key") != std::string::npos);
}

TEST_CASE("limiter.budget refuses, at creation, a budget without a limit, a rolling window without its length and a relative path") {
  auto build = [](const std::string& budget) {
    return testing::chainBuildError("[instances.mock]\ntype = \"provider.mock\"\n"
                                    "[instances.b]\ntype = \"limiter.budget\"\n[instances.b.config]\n" + budget +
                                    "[routes.a]\nprovider = \"mock\"\nlimiters = [\"b\"]\n");
  };
  CHECK(build("window = \"daily\"\nlimit_usd = 5.0\n").empty());
  CHECK(build("window = \"rolling\"\nwindow_seconds = 3600\nlimit_tokens = 100000\nkey = \"tag:project\"\n").empty());
  CHECK(build("window = \"daily\"\n").find("set limit_usd, limit_tokens or both") != std::string::npos);
  CHECK(build("window = \"rolling\"\nlimit_usd = 5.0\n").find("a rolling window needs window_seconds") != std::string::npos);
  CHECK_FALSE(build("window = \"daily\"\nlimit_usd = 5.0\npath = \"budgets.db\"\n").empty());
  CHECK_FALSE(build("window = \"weekly\"\nlimit_usd = 5.0\n").empty());
  CHECK_FALSE(build("window = \"daily\"\nlimit_usd = 5.0\nkey = \"team\"\n").empty());
}

TEST_CASE("routes that share a target share its strictest rate limits, whole, however many workers") {
  auto settings = config::parseConfig(
      "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n[instances.mock]\ntype = \"provider.mock\"\n"
      "[routes.a]\ntargets = [{ provider = \"mock\", model = \"m\", rpm = 100, tpm = 9000 }]\n"
      "[routes.b]\ntargets = [{ provider = \"mock\", model = \"m\", tpm = 6000 }]\n"
      "[routes.c]\ntargets = [{ provider = \"mock\", model = \"other\" }]\n",
      "shared.toml", ".");
  REQUIRE(settings.ok());
  auto chain = chain::buildChain(settings.value(), 2, 1);
  REQUIRE(chain.ok());
  const auto& routes = chain.value()->workers[0]->routes;
  for (const char* name : {"a", "b"}) {
    INFO(name);
    const chain::Target& t = routes.at(name).targets[0];
    CHECK(t.key == "mock/m");
    CHECK(t.rpm == 100);  // route b sets none: it does not lift a's; not split over the 2 workers
    CHECK(t.tpm == 6000); // the stricter of 9000 and 6000
  }
  CHECK(routes.at("c").targets[0].rpm == 0);  // another model: its own (no) limits
}

TEST_CASE("invalid plugin config fails the chain build with the TOML line") {
  auto settings = config::parseConfig(
      "[plugins]\ndirs = [\"" OUTRIGGER_PLUGIN_DIR "\"]\n[instances.mock]\ntype = \"provider.mock\"\n"
      "[instances.mock.config]\nmode = \"psychic\"\n[routes.default]\nprovider = \"mock\"\n",
      "bad.toml", ".");
  REQUIRE(settings.ok());
  auto chain = chain::buildChain(settings.value(), 1, 1);
  REQUIRE_FALSE(chain.ok());
  CHECK(chain.status().message().find("bad.toml:6") != std::string::npos);
  CHECK(chain.status().message().find("config/mode") != std::string::npos);
}

namespace {

struct Rules {
  const outrigger_plugin_type* t = nullptr;
  void* inst = nullptr;
  const outrigger_guardrail_hooks* hooks = nullptr;
  explicit Rules(const std::string& cfg) {
    auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/guardrail_rules.so");
    REQUIRE(types.ok());
    t = types->at(0)->c_type;
    static outrigger_host_api api{};
    outrigger_error err{};
    REQUIRE(t->create(&api, plugin::str("rules"), plugin::str(cfg), &inst, &err) == OUTRIGGER_OK);
    hooks = static_cast<const outrigger_guardrail_hooks*>(t->hooks);
  }
  ~Rules() { t->destroy(inst); }
  std::pair<outrigger_status, std::string> check(const std::vector<std::string>& contents) {
    std::vector<outrigger_message_view> msgs;
    for (const auto& c : contents) msgs.push_back({plugin::str("user"), plugin::str(c), {}, {}, nullptr, 0});
    outrigger_request_view v{};
    v.messages = msgs.data();
    v.message_count = msgs.size();
    outrigger_guardrail_result r{};
    outrigger_status st = hooks->on_request(inst, &v, &r);
    return {r.verdict == OUTRIGGER_VERDICT_FLAG ? 100 : st, std::string(plugin::view(r.reason))};
  }
};

}  // namespace

TEST_CASE("rules: limits and patterns deny, flag or pass") {
  Rules rules(R"({"max_input_bytes": 20, "max_messages": 2, "deny_patterns": ["(?i)drop\\s+table"],
                 "flag_patterns": ["\\b\\d{3}-\\d{2}-\\d{4}\\b"], "deny_empty_output": true})");
  CHECK(rules.check({"hello"}).first == OUTRIGGER_CONTINUE);
  auto [st, reason] = rules.check({"please DROP  table x"});
  CHECK(st == OUTRIGGER_STOP);
  CHECK(reason.find("deny pattern") != std::string::npos);
  CHECK(rules.check({"ssn 123-45-6789"}).first == 100);
  CHECK(rules.check({"a", "b", "c"}).first == OUTRIGGER_STOP);
  CHECK(rules.check({std::string(21, 'x')}).second.find("input too large") != std::string::npos);
  outrigger_response_view empty = plugin::makeResponse();
  outrigger_request_view v{};
  outrigger_guardrail_result r{};
  CHECK(rules.hooks->on_response(rules.inst, &v, &empty, &r) == OUTRIGGER_STOP);
  CHECK(plugin::view(r.reason) == "empty output");
}

// The patterns looked at message text only: a tool call's arguments in the conversation, and
// the answer's tool calls, went through whatever they said.
TEST_CASE("rules: patterns apply to tool calls' names and arguments, in the request and in the answer") {
  Rules rules(R"({"max_input_bytes": 100, "deny_patterns": ["(?i)drop\\s+table"], "scan_output": true})");
  outrigger_tool_call_view call{plugin::str("c1"), plugin::str("function"), plugin::str("sql"),
                                plugin::str(R"({"q": "DROP TABLE users"})")};
  outrigger_message_view turn{plugin::str("assistant"), plugin::str(""), {}, {}, &call, 1};
  outrigger_request_view v{};
  v.messages = &turn;
  v.message_count = 1;
  outrigger_guardrail_result r{};
  CHECK(rules.hooks->on_request(rules.inst, &v, &r) == OUTRIGGER_STOP);
  CHECK(plugin::view(r.reason).find("message 0's tool call 0 matches deny pattern") != std::string::npos);
  // The arguments count toward max_input_bytes.
  outrigger_tool_call_view big{plugin::str("c2"), plugin::str("function"), plugin::str("f"), plugin::str(std::string(120, 'x'))};
  static std::string big_args(120, 'x');
  big.arguments = plugin::str(big_args);
  outrigger_message_view long_turn{plugin::str("assistant"), plugin::str(""), {}, {}, &big, 1};
  v.messages = &long_turn;
  r = {};
  CHECK(rules.hooks->on_request(rules.inst, &v, &r) == OUTRIGGER_STOP);
  CHECK(plugin::view(r.reason).find("input too large") != std::string::npos);
  // The answer's calls, whole and streamed.
  outrigger_response_view answer = plugin::makeResponse();
  answer.tool_calls = &call;
  answer.tool_call_count = 1;
  outrigger_request_view none{};
  r = {};
  CHECK(rules.hooks->on_response(rules.inst, &none, &answer, &r) == OUTRIGGER_STOP);
  outrigger_tool_call_delta_view delta{};
  delta.arguments = plugin::str(R"({"q": "drop table users"})");
  outrigger_chunk_view chunk{};
  chunk.tool_calls = &delta;
  chunk.tool_call_count = 1;
  r = {};
  CHECK(rules.hooks->on_chunk(rules.inst, &none, &chunk, &r) == OUTRIGGER_STOP);
}

TEST_CASE("rules: an invalid regular expression is a create error naming it") {
  auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/guardrail_rules.so");
  REQUIRE(types.ok());
  const outrigger_plugin_type* t = types->at(0)->c_type;
  static outrigger_host_api api{};
  void* inst = nullptr;
  outrigger_error err{};
  CHECK(t->create(&api, plugin::str("r"), plugin::str(R"({"deny_patterns": ["(unclosed"]})"), &inst, &err) < 0);
  CHECK(std::string(err.message).find("(unclosed") != std::string::npos);
}
