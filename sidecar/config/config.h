// The daemon's configuration: one TOML file, parsed strictly. Unknown keys, wrong types and
// missing references are errors that name the file and line. `${ENV_VAR}` inside any string is
// replaced from the environment; an unset variable is an error.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cost/price_table.h"
#include "resilience/policy.h"

#include "common/log.h"
#include "common/status.h"

namespace outrigger::config {

enum class OnError { kDeny, kSkip };

// How much of a request's content its finished record carries (route `capture`; the values of
// outrigger_capture): none, the prompt's shape without its text, or the prompt and the answer.
enum class Capture : uint8_t { kNone = 0, kMetadata = 1, kFull = 2 };

// Who may use the socket, and as which tenants. A rule matches a peer by its uid, or by its
// primary gid (what SO_PEERCRED reports); the first matching rule decides.
struct PeerRule {
  int64_t uid = -1;  // -1: not matched by uid
  int64_t gid = -1;  // -1: not matched by gid
  std::vector<std::string> tenants;  // tenants the peer may name; "*" is any
  std::string default_tenant;        // when a request names none
  std::string where;

  bool operator==(const PeerRule&) const = default;
};

struct ServerSettings {
  std::string socket_path;  // empty: the private runtime directory (ipc/runtime_dir.h)
  uint32_t socket_mode = 0660;
  uint32_t max_connections = 10000;          // socket connections in the process; more are refused at accept
  uint32_t max_connections_per_peer = 1000;  // per client uid; 0: no per-peer cap
  uint32_t handshake_timeout_ms = 5000;      // Hello must arrive within this after accept
  uint32_t idle_timeout_ms = 600000;         // no stream and no frame for this long: closed; 0: never
  uint32_t frame_timeout_ms = 30000;         // a frame begun must be whole within this
  uint32_t heartbeat_ms = 5000;              // announced in HelloAck: clients Ping this often; 0: none
  uint64_t partial_frame_memory = 256u << 20;  // bytes held for partly received frames, whole process
  std::vector<PeerRule> peers;
  uint32_t workers = 0;  // 0: one per core
  uint32_t max_frame_size = 4u << 20;
  uint32_t max_concurrent_streams = 4096;
  uint32_t default_timeout_ms = 60000;
  uint32_t max_timeout_ms = 600000;
  uint32_t drain_grace_ms = 10000;
  uint64_t write_queue_high_water = 1u << 20;  // pause producers above this many queued bytes
  uint64_t write_queue_limit = 16u << 20;      // end streams with RESOURCE_EXHAUSTED above this
  uint32_t slow_hook_warn_us = 1000;
  LogLevel log_level = LogLevel::kInfo;
  std::string upstream_ca_file;  // PEM CA certificates trusted for upstream TLS instead of the system store
  bool upstream_plain_http1 = true;  // http:// upstreams on the built-in HTTP/1.1 transport; false: libcurl
  uint32_t upstream_max_connections = 256;  // per upstream host and worker; more transfers wait; 0: unlimited
  uint32_t busy_poll_us = 0;      // a worker polls without sleeping this long after any work; 0: never
  bool watch_config = true;       // reload when the config file changes (as on SIGHUP)

  bool operator==(const ServerSettings&) const = default;
};

// A bearer token that names a tenant (a "virtual key"). Write the key as ${ENV_VAR}.
struct VirtualKey {
  std::string key;
  std::string tenant;                // the caller's tenant unless it names another it may use
  std::vector<std::string> tenants;  // further tenants x-outrigger-tenant may name with this key; "*" any

  bool operator==(const VirtualKey&) const = default;
};

// The OpenAI-compatible HTTP front ([http]). Off unless `listen` names at least one address.
struct HttpSettings {
  std::vector<std::string> listen;      // "127.0.0.1:8080", "[::1]:8080" or "unix:/path"
  uint32_t socket_mode = 0660;          // for unix: addresses
  uint64_t max_body_bytes = 4u << 20;   // larger request bodies get 413
  uint32_t header_timeout_ms = 10000;   // a request (headers and body) must arrive within this
  uint32_t idle_timeout_ms = 60000;     // HTTP/2 connections idle this long are closed
  uint32_t max_connections = 4096;      // across workers; more are accepted and closed at once
  uint64_t write_buffer_high_water = 1u << 20;  // pause a stream's producer above this
  uint32_t abort_check_ms = 200;        // how often waiting requests look for a closed client
  uint32_t write_timeout_ms = 30000;    // a write the client has not taken for this long closes it; 0: never
  bool http2 = true;                    // h2c via prior knowledge or Upgrade
  bool require_key = false;             // refuse requests without a virtual key
  // Dotted Host names answered besides IP literals and one-label names (http/local_origin.h).
  std::vector<std::string> allowed_hosts;
  std::string default_tenant = "default";  // the tenant of callers without a virtual key
  std::vector<VirtualKey> virtual_keys;
  std::string where;

  bool operator==(const HttpSettings&) const = default;
};

// The admin listener ([admin]): /healthz /readyz /version /metrics. Off unless `listen` is set.
struct AdminSettings {
  std::string listen;  // "127.0.0.1:9464" (loopback is the default posture) or "unix:/path"
  std::string token;   // when set, every admin request needs "Authorization: Bearer <token>"
  // Host names requests may name besides IP literals and localhost (DNS rebinding: a page whose
  // name resolves to 127.0.0.1 must not read the traces as its own origin).
  std::vector<std::string> allowed_hosts;
  std::string where;

  bool operator==(const AdminSettings&) const = default;
};

// [metrics]: what /metrics labels beyond the config's own names.
struct MetricsSettings {
  bool tenant_label = false;  // request, token and cost series by tenant too
  uint32_t max_tenants = 100;  // tenants with a label of their own; later ones are "_other"

  bool operator==(const MetricsSettings&) const = default;
};

// One [[alerts.rules]] entry: a condition on the sidecar's own figures, evaluated in the
// sidecar and exported as a Prometheus alerting rule (alerts/prometheus_rules.h).
struct AlertRuleSettings {
  std::string name;   // the alert's name (alertname): [A-Za-z_][A-Za-z0-9_]*
  std::string kind;   // cost | error_rate | latency | budget_used | guardrail_deny_rate
  std::string by;     // cost: tenant | route | model (default tenant)
  std::string route;  // only this route; empty: every route
  uint32_t window_s = 300;  // the window counters are compared over (cost: USD spent in it)
  double threshold = 0;     // fires above it
  double quantile = 0.95;   // latency
  uint32_t for_s = 0;       // the condition must hold this long before the alert fires
  uint64_t min_requests = 1;  // rate and latency kinds: fewer requests in the window never fire
  std::string severity = "warning";
  std::string summary;  // the notification's summary; empty: one written from the rule
  std::string where;

  bool operator==(const AlertRuleSettings&) const = default;
};

// [alerts]: rules, and the webhook their notifications go to.
struct AlertSettings {
  std::string webhook;        // http(s) URL of an Alertmanager-style webhook receiver; empty: none
  std::string webhook_token;  // sent as "Authorization: Bearer <token>"; write it as ${ENV_VAR}
  uint32_t evaluate_every_ms = 15000;
  uint32_t repeat_interval_s = 14400;  // a firing alert is notified again after this; 0: never
  uint32_t max_attempts = 6;           // per notification, backing off from 1 s
  uint32_t timeout_ms = 5000;          // per attempt
  uint32_t queue_capacity = 256;       // notifications waiting; beyond it they are dropped, counted
  std::vector<AlertRuleSettings> rules;
  std::string where;

  bool operator==(const AlertSettings&) const = default;
};

struct InstanceSettings {
  std::string name;
  std::string kind;         // provider | guardrail | cache | exporter
  std::string type;         // plugin type name within the kind, e.g. "mock"
  std::string config_json;  // the [instances.<name>.config] table as a JSON object
  OnError on_error = OnError::kDeny;
  std::string where;        // "file:line" of the instance table
  // JSON pointer ("/patterns/0") -> "file:line", to point schema errors at the TOML source.
  std::map<std::string, std::string> lines;
};

// One upstream target of a route: a provider instance and the model it calls.
struct TargetSettings {
  std::string provider;
  std::string model;    // empty: the route's model, else the caller's
  uint32_t weight = 1;  // strategy "weighted" only
  uint32_t max_concurrent = 0;  // attempts in flight, whole process; 0: unlimited
  uint32_t rpm = 0;             // requests per minute to this target, whole process; 0: none
  uint32_t tpm = 0;             // LLM tokens per minute (prompt + completion), likewise; 0: none
  std::string where;
};

struct RouteSettings {
  std::string name;
  std::string model;  // model the provider calls; empty: the caller's model
  std::vector<std::string> guardrails;
  std::vector<std::string> limiters;  // admit in order after the request guardrails; settle per attempt
  std::vector<std::string> calls;  // routes this route's plugins may run as model calls (no cycles)
  // Reached only by other routes' plugins (`calls`): callers naming it are served as for a name
  // no route has (a judge or embeddings route is no way around a public route's guardrails).
  bool internal = false;
  // Requests and LLM tokens per minute per tenant; 0: none. Shorthand for a limiter.memory
  // instance ("<route>.tenant_limits") put first in `limiters`.
  uint32_t tenant_rpm = 0;
  uint32_t tenant_tpm = 0;
  std::vector<std::string> caches;  // `cache = "a"` or `cache = ["exact", "semantic"]`: looked up in order
  uint32_t cache_replay_chunk_bytes = 64;  // a streamed cache hit is replayed in chunks of this size
  uint32_t max_reasks = 1;          // provider attempts a response guardrail may ask for again (0..10)
  uint32_t max_held_bytes = 65536;  // bytes of a stream guardrails may hold back at once
  uint32_t max_answer_bytes = 16u << 20;  // a streamed answer's text and tool calls, all told
  Capture capture = Capture::kNone;  // what of the prompt and answer the record carries
  // With capture = "full": keep the text of a prompt a guardrail stopped before every
  // request-side guardrail had run (route `capture_denied = "full"`; default "shape").
  bool capture_denied_prompts = false;
  std::string provider;  // the first target's provider (kept for single-target routes)
  std::vector<TargetSettings> targets;  // at least one; `provider = ...` makes a single target
  resilience::RoutePolicy policy;       // strategy, retry, breaker, limits, hedge
  std::vector<std::string> exporters;
  // The degraded answer served when every target failed (text, or a table as JSON text); unset:
  // the failure reaches the caller.
  std::optional<std::string> fallback_answer;
  std::string where;
};

// Prices for cost accounting ([prices]): the embedded table (config/prices/models.toml), then
// `file`, then the config's own entries, each replacing entries of the same provider/model.
struct PriceSettings {
  std::string file;                       // absolute after parsing; empty: none
  std::vector<cost::ModelPrice> entries;  // [prices."provider/model"]
};

struct Settings {
  ServerSettings server;
  HttpSettings http;
  AdminSettings admin;
  std::vector<std::string> plugin_dirs;  // absolute after parsing
  uint32_t exporter_queue_capacity = 4096;  // a queued record of the default chain holds about 7 KiB
  // The bytes queued records may hold: a record with captured content holds the prompt and the
  // answer, so the count alone would let 4,096 of them hold gigabytes while an exporter stalls.
  uint64_t exporter_queue_max_bytes = 128ull << 20;
  // How the exporter thread shares the CPU with the workers ([exporter] priority): "idle"
  // (SCHED_IDLE: only CPU the workers leave; a host saturated for longer than the queue lasts
  // sheds records, counted), "low" (nice 10) or "normal".
  std::string exporter_priority = "idle";
  std::vector<InstanceSettings> instances;
  std::vector<RouteSettings> routes;
  PriceSettings prices;
  MetricsSettings metrics;
  AlertSettings alerts;
  std::string default_route;
  std::string source;  // file path, or "<embedded default>"
  std::string text_hash;  // textHash of the text parsed: the config watch starts from it
};

// A short fingerprint of config text: what the config watch compares to tell an edit.
std::string textHash(std::string_view text);

// Parses TOML text. `source` names it in errors; `base_dir` resolves relative plugin dirs.
Expected<Settings> parseConfig(std::string_view text, std::string_view source, std::string_view base_dir);
// Reads and parses a file.
Expected<Settings> loadConfigFile(const std::string& path);
// The embedded default config (mock provider, no keys needed).
std::string_view defaultConfigText();
Expected<Settings> loadDefaultConfig();

}  // namespace outrigger::config
