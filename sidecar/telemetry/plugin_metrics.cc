#include "telemetry/plugin_metrics.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "common/utf8.h"
#include "http/http_metrics.h"
#include "plugin/str_view.h"

namespace outrigger::telemetry {
namespace {

bool nameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

bool validName(std::string_view name, size_t max_bytes, bool metric) {
  if (name.empty() || name.size() > max_bytes) return false;
  if (metric && name[0] == '_') return false;
  // Label names that begin with "__" are Prometheus's own (__name__ among them): a scrape with
  // one fails whole.
  if (!metric && name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!nameChar(name[i], i == 0)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline (the text format's rule for HELP lines).
std::string escapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

struct PluginMetrics::Sink {
  PluginMetrics* self;
  const std::string* instance;
  size_t taken = 0;
};

void PluginMetrics::onSample(void* ctx, outrigger_metric_type type, outrigger_str name, outrigger_str help,
                             const outrigger_attribute* labels, size_t label_count, double value) noexcept {
  auto* sink = static_cast<Sink*>(ctx);
  PluginMetrics* self = sink->self;
  try {
    std::string_view n = sv(name);
    bool ok = sink->taken < kMaxSamplesPerInstance && (type == OUTRIGGER_METRIC_COUNTER || type == OUTRIGGER_METRIC_GAUGE) &&
              validName(n, kMaxNameBytes, true) && (type != OUTRIGGER_METRIC_COUNTER || n.ends_with("_total")) &&
              (label_count == 0 || labels) && label_count <= 16 && !std::isnan(value);
    MetricLabels key;
    key.emplace_back("plugin_instance", *sink->instance);
    // instance and job are the labels Prometheus gives each scraped target: one here would clash.
    std::set<std::string_view> seen{"plugin_instance", "instance", "job"};
    for (size_t i = 0; ok && i < label_count; ++i) {
      std::string_view k = sv(labels[i].key), v = sv(labels[i].value);
      ok = validName(k, kMaxNameBytes, false) && seen.insert(k).second && validUtf8(v) && v.size() <= 256;
      if (ok) key.emplace_back(std::string(k), std::string(v));
    }
    if (!ok) {
      ++self->dropped_;
      return;
    }
    std::string full = "outrigger_" + std::string(n);
    auto [it, fresh] = self->families_.try_emplace(full);
    MetricFamily& family = it->second;
    if (fresh) {
      family.type = type;
      std::string_view h = sv(help);
      family.help = validUtf8(h) ? std::string(utf8Prefix(h, 512)) : std::string();
    } else if (family.type != type) {
      ++self->dropped_;
      return;
    }
    ++sink->taken;
    family.samples[std::move(key)] += value;
  } catch (...) {
    ++self->dropped_;  // out of memory: the scrape goes on without it
  }
}

void PluginMetrics::collect(const std::vector<std::shared_ptr<plugin::PluginInstance>>& instances) {
  std::set<const void*> asked;
  for (const auto& inst : instances) {
    if (!inst || !asked.insert(inst.get()).second) continue;
    const outrigger_plugin_type* t = inst->type().c_type;
    if (!OUTRIGGER_HAS_SLOT(t, outrigger_plugin_type, metrics)) continue;
    Sink sink{this, &inst->name()};
    outrigger_metrics_writer writer = {OUTRIGGER_HEADER_INIT(outrigger_metrics_writer), &sink, &PluginMetrics::onSample};
    t->metrics(inst->handle(), &writer);
  }
}

std::string PluginMetrics::render(std::string_view core) {
  // A core family's name, or one of its samples' (a histogram's _bucket, _sum and _count), or the
  // series the daemon writes after these: a second HELP for it would fail the whole scrape.
  auto taken = [&](const std::string& name) {
    if (name == kSamplesDroppedMetric || core.find("# TYPE " + name + " ") != std::string_view::npos) return true;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          core.find("# TYPE " + name.substr(0, name.size() - suffix.size()) + " ") != std::string_view::npos) {
        return true;
      }
    }
    return false;
  };
  std::string out;
  for (const auto& [name, family] : families_) {
    if (taken(name)) {
      dropped_ += family.samples.size();
      continue;
    }
    out += "# HELP " + name + " " + escapeHelp(family.help) + "\n";
    out += "# TYPE " + name + (family.type == OUTRIGGER_METRIC_COUNTER ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : family.samples) {
      out += name + "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) out += ",";
        out += labels[i].first + "=\"" + http::escapeLabel(labels[i].second) + "\"";
      }
      out += "} " + number(value) + "\n";
    }
  }
  return out;
}

}  // namespace outrigger::telemetry
