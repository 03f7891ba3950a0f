// outrigger: serve, check, plugins, chat, version.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include <mimalloc.h>

#include "chain/chain.h"
#include "cli/commands.h"
#include "config/config.h"

int main(int argc, char** argv) {
  CLI::App app{"Outrigger: a reliability sidecar for LLM calls"};
  app.require_subcommand(1);
  outrigger::cli::Options opt;

  auto* serve = app.add_subcommand("serve", "Serve requests on the Unix socket");
  serve->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");
  serve->add_option("-s,--socket", opt.socket_path, "Socket path (overrides the config)");
  serve->add_option("-w,--workers", opt.workers, "Worker threads (overrides the config)");

  auto* check = app.add_subcommand("check", "Validate a config, load its plugins, print the resolved chain");
  check->add_option("-c,--config", opt.config_path, "TOML config (default: the embedded default config)");

  auto* plugins = app.add_subcommand("plugins", "List plugin types with kind, version, stability and config schema");
  plugins->add_option("-c,--config", opt.config_path, "TOML config whose plugin dirs to scan");
  plugins->add_option("-d,--dir", opt.plugin_dirs, "Plugin directory to scan (repeatable)");

  auto* chat = app.add_subcommand("chat", "Send one request through the socket and stream the answer");
  chat->add_option("message", opt.message, "The user message")->required();
  chat->add_option("-s,--socket", opt.socket_path, "Socket path (default: $OUTRIGGER_SOCKET, else the private runtime directory)");
  chat->add_option("-m,--model", opt.model, "Route or model name");
  chat->add_option("--system", opt.system, "System message");
  chat->add_option("--tenant", opt.tenant, "Tenant id");
  chat->add_option("--timeout-ms", opt.timeout_ms, "Deadline in milliseconds");
  chat->add_option("--extra-json", opt.extra_json, "Provider-specific JSON object");
  chat->add_flag("--no-stream", opt.no_stream, "Wait for the whole answer");

  app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);
  if (*serve) return outrigger::cli::serve(opt);
  if (*check) return outrigger::cli::check(opt);
  if (*plugins) return outrigger::cli::listPlugins(opt);
  if (*chat) return outrigger::cli::chat(opt);
  std::printf("outrigger %s (plugin ABI %d.%d, protocol 1.0, mimalloc %d)\n", OUTRIGGER_VERSION, OUTRIGGER_ABI_MAJOR,
              OUTRIGGER_ABI_MINOR, mi_version());
  return 0;
}
