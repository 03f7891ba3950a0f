// The host side of the plugins' metrics slot (ABI 1.2): what a plugin writes reaches /metrics
// with the "outrigger_" prefix and the instance label, samples of per-worker instances add up,
// and whatever could corrupt or swell the scrape is dropped and counted.
#include <catch2/catch.hpp>

#include <string>

#include <outrigger/plugin.hpp>

#include "chain/host_api.h"
#include "plugin/instance.h"
#include "support/in_test_plugins.h"
#include "telemetry/plugin_metrics.h"

using namespace outrigger;
using outrigger::testing::typeFor;

namespace {

int g_extra_samples = 0;  // how many more valid samples the next report writes

class Reporter final : public plugin::Guardrail {
 public:
  static constexpr const char* kName = "reporter";
  static constexpr const char* kDescription = "writes metrics samples";
  static constexpr const char* kConfigSchema = R"({"type":"object"})";
  Reporter(plugin::Host host, std::string_view name, std::string_view) : Guardrail(host, name) {}

  void reportMetrics(const plugin::MetricsWriter& out) override {
    out.gauge("entries_held", "Entries the \"reporter\" holds.\nSecond line.", {{"shard", "a\"b"}}, 3);
    out.counter("hits_total", "Hits.", {}, 5);
    out.gauge("Bad-Name", "dropped: not a Prometheus name", {}, 1);
    out.counter("hits", "dropped: a counter's name ends in _total", {}, 1);
    out.gauge("hits_total", "dropped: the name is a counter already", {}, 1);
    out.gauge("labelled", "dropped: the host owns the instance label", {{"plugin_instance", "other"}}, 1);
    out.gauge("labelled", "dropped: Prometheus gives each target an instance label", {{"instance", "other"}}, 1);
    out.gauge("labelled", "dropped: and a job label", {{"job", "other"}}, 1);
    out.gauge("labelled", "dropped: a label name twice", {{"k", "1"}, {"k", "2"}}, 1);
    out.gauge("labelled", "dropped: not UTF-8", {{"k", "\xff"}}, 1);
    out.gauge("labelled", "dropped: Prometheus's own label name", {{"__name__", "x"}}, 1);
    out.gauge("labelled", "dropped: any reserved label name", {{"__meta_x", "x"}}, 1);
    out.gauge("breaker_state", "dropped at render: the daemon's own name", {}, 1);
    out.gauge("request_duration_seconds_count", "dropped at render: a sample name of the daemon's histogram", {}, 1);
    out.gauge("plugin_metric_samples_dropped", "dropped at render: the daemon writes it after the plugins", {}, 1);
    for (int i = 0; i < g_extra_samples; ++i) out.gauge("many", "Many.", {{"i", std::to_string(i)}}, 1);
  }
};

struct Rig {
  plugin::PluginType type = typeFor(plugin::typeOf<Reporter>());
  std::shared_ptr<plugin::PluginInstance> make(const std::string& name) {
    config::InstanceSettings is{name, "guardrail", "reporter", "{}", config::OnError::kDeny, "t:1", {}};
    return plugin::PluginInstance::create(type, is, chain::hostApiTemplate()).value();
  }
};

}  // namespace

TEST_CASE("plugin metrics: samples get the prefix and the plugin_instance label, and per-worker instances add up") {
  g_extra_samples = 0;
  Rig rig;
  auto one = rig.make("memo"), two = rig.make("memo");
  telemetry::PluginMetrics m;
  m.collect({one, two, one});  // `one` twice: asked once
  std::string text = m.render("# TYPE outrigger_breaker_state gauge\n# TYPE outrigger_request_duration_seconds histogram\n");
  CHECK(text.find("# HELP outrigger_entries_held Entries the \"reporter\" holds.\\nSecond line.\n") != std::string::npos);
  CHECK(text.find("# TYPE outrigger_entries_held gauge\n") != std::string::npos);
  CHECK(text.find("outrigger_entries_held{plugin_instance=\"memo\",shard=\"a\\\"b\"} 6\n") != std::string::npos);
  CHECK(text.find("# TYPE outrigger_hits_total counter\n") != std::string::npos);
  CHECK(text.find("outrigger_hits_total{plugin_instance=\"memo\"} 10\n") != std::string::npos);
  CHECK(text.find("Bad") == std::string::npos);
  CHECK(text.find("labelled") == std::string::npos);
  CHECK(text.find("breaker_state") == std::string::npos);
  CHECK(text.find("request_duration") == std::string::npos);
  CHECK(text.find("samples_dropped") == std::string::npos);
  // Per instance: Bad-Name, hits, hits_total as a gauge, seven labelled; then, added up over the
  // instances, breaker_state, request_duration_seconds_count and plugin_metric_samples_dropped
  // when rendered.
  CHECK(m.dropped() == 2 * 10 + 3);
  CHECK(text.find("__") == std::string::npos);
}

TEST_CASE("plugin metrics: an instance gets at most its cap of samples per collection") {
  g_extra_samples = int(telemetry::PluginMetrics::kMaxSamplesPerInstance);
  Rig rig;
  auto inst = rig.make("big");
  telemetry::PluginMetrics m;
  m.collect({inst});
  g_extra_samples = 0;
  size_t kept = 0;
  for (const auto& [name, family] : m.families()) kept += family.samples.size();
  CHECK(kept == telemetry::PluginMetrics::kMaxSamplesPerInstance);
  // Five valid samples came first; the cap then cut the `many` series short.
  CHECK(m.families().at("outrigger_many").samples.size() == telemetry::PluginMetrics::kMaxSamplesPerInstance - 5);
}
