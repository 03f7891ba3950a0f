#include "cli/commands.h"

#include <signal.h>

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <outrigger/client.h>

#include "chain/chain.h"
#include "common/crash_report.h"
#include "config/config.h"
#include "config/restart_changes.h"
#include "daemon/daemon.h"
#include "ipc/listener.h"
#include "ipc/runtime_dir.h"

namespace outrigger::cli {
namespace {

Expected<config::Settings> loadSettings(const Options& opt) {
  return opt.config_path.empty() ? config::loadDefaultConfig() : config::loadConfigFile(opt.config_path);
}

// A target's model and limits (for the whole process, however many workers serve it).
// Only names and numbers: provider config, where keys live, is never printed.
void printTarget(const chain::Target& t, const chain::Route& route) {
  const std::string& model = !t.model.empty() ? t.model : route.model;
  std::string out = "             model " + (model.empty() ? std::string("as the caller asks") : model);
  bool weighted = route.policy.strategy == resilience::Strategy::kWeighted;
  if (weighted) out += ", weight " + std::to_string(t.weight);
  if (t.max_concurrent) out += ", max_concurrent " + std::to_string(t.max_concurrent);
  if (t.rpm) out += ", rpm " + std::to_string(t.rpm);
  if (t.tpm) out += ", tpm " + std::to_string(t.tpm);
  std::printf("%s\n", out.c_str());
}

void printPolicy(const resilience::RoutePolicy& p, size_t targets) {
  if (targets > 1) {
    const char* strategy = p.strategy == resilience::Strategy::kWeighted        ? "weighted"
                           : p.strategy == resilience::Strategy::kLowestLatency ? "lowest_latency"
                                                                                : "fallback";
    std::printf("  strategy   %s\n", strategy);
  }
  if (p.limits.queue) {
    std::printf("  on limit   queue (at most %u waiting, %u ms)\n", p.limits.queue_max, p.limits.queue_timeout_ms);
  }
  if (p.hedge.delay_ms) std::printf("  hedge      after %u ms (unary calls)\n", p.hedge.delay_ms);
}

}  // namespace

int serve(const Options& opt) {
  // Until the daemon's loop handles SIGHUP (`systemctl reload`, a config push), one would kill
  // the process, which systemd counts as a clean exit: held pending, in this thread and every
  // thread started from it, until Daemon::run takes it.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &hup, nullptr);
  installCrashReport();
  // SQLite (the trace store, budgets) keeps allocation statistics under one process-wide mutex
  // by default; nothing reads them, and the exporter thread and a budget's flusher would take
  // it on every allocation. Before any database opens, or it has no effect.
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  auto settings = loadSettings(opt);
  if (!settings.ok()) {  // a config it cannot load fails as in check: 1 (2 is a usage error)
    std::fprintf(stderr, "outrigger: %s\n", settings.status().message().c_str());
    return 1;
  }
  config::ServerOverrides overrides{opt.socket_path, opt.workers};
  overrides.applyTo(&settings->server);
  daemon::Daemon d(std::move(settings.value()), opt.config_path, overrides);
  return d.run();
}

int check(const Options& opt) {
  auto settings = loadSettings(opt);
  if (!settings.ok()) {
    std::fprintf(stderr, "outrigger check: %s\n", settings.status().message().c_str());
    return 1;
  }
  auto snapshot = chain::buildChain(settings.value(), 1, 1);
  if (!snapshot.ok()) {
    std::fprintf(stderr, "outrigger check: %s\n", snapshot.status().message().c_str());
    return 1;
  }
  // The socket paths serve would bind: each must fit a Unix socket address, in a directory that
  // exists (serve refused these at bind while check passed them).
  const char* env_socket = std::getenv("OUTRIGGER_SOCKET");
  std::string socket = !settings->server.socket_path.empty() ? settings->server.socket_path
                       : env_socket && *env_socket          ? std::string(env_socket)
                                                            : std::string();
  std::vector<std::string> socket_paths;
  if (!socket.empty()) socket_paths.push_back(socket);
  for (const std::string& a : settings->http.listen) {
    if (a.rfind("unix:", 0) == 0) socket_paths.push_back(a.substr(5));
  }
  if (settings->admin.listen.rfind("unix:", 0) == 0) socket_paths.push_back(settings->admin.listen.substr(5));
  for (const std::string& path : socket_paths) {
    if (Status s = ipc::socketPathUsable(path); !s.isOk()) {
      std::fprintf(stderr, "outrigger check: %s\n", s.message().c_str());
      return 1;
    }
  }
  std::printf("config %s is valid\n", settings->source.c_str());
  if (socket.empty()) socket = "the private runtime directory (" + client::defaultSocketCandidates().front() + " first)";
  std::printf("socket %s (mode %04o)\n", socket.c_str(), settings->server.socket_mode);
  const auto& chain = *snapshot.value()->workers[0];
  for (const auto& [name, route] : chain.routes) {
    std::printf("route %s%s\n", name.c_str(), name == chain.default_route ? " (default)" : "");
    auto line = [](const char* stage, const chain::Stage& s) {
      const auto& t = s.instance->type();
      std::printf("  %-10s %-16s %s.%s %s (%s)\n", stage, s.instance->name().c_str(),
                  std::string(plugin::kindName(t.kind)).c_str(), t.name.c_str(), t.version.c_str(), t.path.c_str());
    };
    for (const auto& g : route.guardrails) line("guardrail", g);
    for (const auto& l : route.limiters) line("limiter", l);
    for (const auto& c : route.cache) line("cache", c);
    for (const auto& t : route.targets) {
      line("provider", t.stage);
      printTarget(t, route);
    }
    for (const auto& e : route.exporters) line("exporter", e);
    if (!route.model.empty()) std::printf("  model      %s\n", route.model.c_str());
    if (route.fallback_answer) std::printf("  fallback   %zu-byte degraded answer\n", route.fallback_answer->size());
    printPolicy(route.policy, route.targets.size());
  }
  return 0;
}

int listPlugins(const Options& opt) {
  plugin::PluginCatalog catalog;
  std::vector<std::string> dirs = opt.plugin_dirs;
  if (dirs.empty()) {
    auto settings = loadSettings(opt);
    if (!settings.ok()) {
      std::fprintf(stderr, "outrigger plugins: %s\n", settings.status().message().c_str());
      return 1;
    }
    dirs = settings->plugin_dirs;
    if (dirs.empty()) dirs.push_back(chain::defaultPluginDir());
  }
  for (const auto& d : dirs) {
    if (Status s = catalog.addDirectory(d); !s.isOk()) {
      std::fprintf(stderr, "outrigger plugins: %s\n", s.message().c_str());
      return 1;
    }
  }
  for (const auto& t : catalog.types()) {
    std::printf("%s.%s\n  library    %s %s (ABI %u.%u)\n  stability  %s\n  file       %s\n  about      %s\n  config     %s\n\n",
                std::string(plugin::kindName(t->kind)).c_str(), t->name.c_str(), t->library.c_str(),
                t->version.c_str(), t->abi_major, t->abi_minor,
                std::string(plugin::stabilityName(t->c_type->stability)).c_str(), t->path.c_str(),
                t->description.c_str(), t->schema_json.c_str());
  }
  return 0;
}

int chat(const Options& opt) {
  client::Client::Options co;
  co.socket_path = opt.socket_path;
  co.client_name = "outrigger-cli";
  client::Client c(co);
  client::ChatRequest req;
  req.model = opt.model;
  if (!opt.system.empty()) req.messages.push_back({"system", opt.system, "", "", {}});
  req.messages.push_back({"user", opt.message, "", "", {}});
  req.extra_json = opt.extra_json;
  req.timeout = std::chrono::milliseconds(opt.timeout_ms);
  if (!opt.tenant.empty()) {
    client::Metadata md;
    md.tenant = opt.tenant;
    req.metadata = md;
  }
  const client::Result<client::Response>* result = nullptr;
  std::optional<client::Result<client::Response>> unary;
  std::optional<client::Stream> stream;
  if (opt.no_stream) {
    unary = c.chat(req);
    result = &*unary;
    if (result->ok()) std::cout << result->value().content;
  } else {
    stream.emplace(c.stream(req));
    client::Chunk chunk;
    while (stream->next(&chunk)) std::cout << chunk.delta << std::flush;
    result = &stream->result();
  }
  if (!result->ok()) {
    std::cerr << "\noutrigger chat: " << result->error().toString() << "\n";
    return 1;
  }
  const auto& r = result->value();
  std::cout << "\n";
  std::cerr << "[model " << r.model << ", finish " << r.finish_reason << ", tokens " << r.usage.prompt_tokens << "+"
            << r.usage.completion_tokens << ", trace " << r.trace_id << (r.cache_hit ? ", cache hit" : "") << "]\n";
  return 0;
}

}  // namespace outrigger::cli
