// Parsing of the sections that configure the fronts: [server] (the socket, its limits and peer
// rules), [http] (listeners and virtual keys) and [admin].
#include "config/config_parser.h"

#include <unistd.h>

#include <cstdlib>

namespace outrigger::config::detail {

// An octal file mode written as a string ("0660").
uint32_t Parser::fileMode(const toml::node& n, const std::string& key) const {
  std::string mode = str(n, key);
  char* end = nullptr;
  unsigned long m = std::strtoul(mode.c_str(), &end, 8);
  if (mode.empty() || *end || m > 0777) fail(n, "'" + key + "' must be an octal mode like \"0660\"");
  return static_cast<uint32_t>(m);
}

void Parser::server(const toml::table& t, ServerSettings* s) const {
  checkKeys(t, {"socket", "socket_mode", "workers", "max_frame_size", "max_concurrent_streams",
                "default_timeout_ms", "max_timeout_ms", "drain_grace_ms", "write_queue_high_water",
                "write_queue_limit", "slow_hook_warn_us", "log_level", "upstream_ca_file",
                "upstream_plain_http1", "upstream_max_connections", "busy_poll_us", "max_connections",
                "max_connections_per_peer", "handshake_timeout_ms", "idle_timeout_ms", "frame_timeout_ms",
                "partial_frame_memory", "heartbeat_ms", "peers", "watch_config"},
            "[server]");
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "socket") {
      s->socket_path = str(v, key);
      if (s->socket_path.empty()) fail(v, "'socket' must not be empty");
    } else if (key == "socket_mode") {
      s->socket_mode = fileMode(v, key);
    } else if (key == "workers") {
      s->workers = static_cast<uint32_t>(uint(v, key, 256));
    } else if (key == "max_frame_size") {
      s->max_frame_size = static_cast<uint32_t>(uint(v, key, 64u << 20, 1024));
    } else if (key == "max_concurrent_streams") {
      s->max_concurrent_streams = static_cast<uint32_t>(uint(v, key, 1u << 20, 1));
    } else if (key == "default_timeout_ms") {
      s->default_timeout_ms = static_cast<uint32_t>(uint(v, key, 86400000, 1));
    } else if (key == "max_timeout_ms") {
      s->max_timeout_ms = static_cast<uint32_t>(uint(v, key, 86400000, 1));
    } else if (key == "drain_grace_ms") {
      s->drain_grace_ms = static_cast<uint32_t>(uint(v, key, 3600000));
    } else if (key == "write_queue_high_water") {
      s->write_queue_high_water = uint(v, key, 1ull << 32, 1);
    } else if (key == "write_queue_limit") {
      s->write_queue_limit = uint(v, key, 1ull << 34, 1);
    } else if (key == "slow_hook_warn_us") {
      s->slow_hook_warn_us = static_cast<uint32_t>(uint(v, key, 10000000));
    } else if (key == "upstream_ca_file") {
      s->upstream_ca_file = str(v, key);
      if (!s->upstream_ca_file.empty() && s->upstream_ca_file[0] != '/') {
        s->upstream_ca_file = base_dir_ + "/" + s->upstream_ca_file;
      }
      if (::access(s->upstream_ca_file.c_str(), R_OK) != 0) {
        fail(v, "'upstream_ca_file' " + s->upstream_ca_file + " cannot be read");
      }
    } else if (key == "watch_config") {
      s->watch_config = boolean(v, key);
    } else if (key == "upstream_plain_http1") {
      s->upstream_plain_http1 = boolean(v, key);
    } else if (key == "upstream_max_connections") {
      s->upstream_max_connections = static_cast<uint32_t>(uint(v, key, 65535));
    } else if (key == "busy_poll_us") {
      s->busy_poll_us = static_cast<uint32_t>(uint(v, key, 10000));
    } else if (key == "max_connections") {
      s->max_connections = static_cast<uint32_t>(uint(v, key, 1u << 20, 1));
    } else if (key == "max_connections_per_peer") {
      s->max_connections_per_peer = static_cast<uint32_t>(uint(v, key, 1u << 20));
    } else if (key == "handshake_timeout_ms") {
      s->handshake_timeout_ms = static_cast<uint32_t>(uint(v, key, 3600000, 1));
    } else if (key == "idle_timeout_ms") {
      s->idle_timeout_ms = static_cast<uint32_t>(uint(v, key, 86400000));
    } else if (key == "frame_timeout_ms") {
      s->frame_timeout_ms = static_cast<uint32_t>(uint(v, key, 3600000, 1));
    } else if (key == "heartbeat_ms") {
      s->heartbeat_ms = static_cast<uint32_t>(uint(v, key, 3600000));
      if (s->heartbeat_ms != 0 && s->heartbeat_ms < 100) fail(v, "'heartbeat_ms' must be 0 (none) or at least 100");
    } else if (key == "partial_frame_memory") {
      s->partial_frame_memory = uint(v, key, 1ull << 40, 1u << 20);
    } else if (key == "peers") {
      const toml::array* a = v.as_array();
      if (!a) fail(v, "'peers' must be an array of tables: [[server.peers]]");
      for (const toml::node& e : *a) s->peers.push_back(peer(e));
    } else if (key == "log_level") {
      std::string lvl = str(v, key);
      if (lvl == "debug") s->log_level = LogLevel::kDebug;
      else if (lvl == "info") s->log_level = LogLevel::kInfo;
      else if (lvl == "warn") s->log_level = LogLevel::kWarn;
      else if (lvl == "error") s->log_level = LogLevel::kError;
      else fail(v, "'log_level' must be debug, info, warn or error");
    }
  }
  if (s->write_queue_limit < s->write_queue_high_water) {
    fail(t, "write_queue_limit must be at least write_queue_high_water");
  }
}

// "host:port", "[v6]:port" or "unix:/absolute/path".
std::string Parser::address(const toml::node& n, const std::string& key) const {
  std::string a = str(n, key);
  if (a.rfind("unix:", 0) == 0) {
    if (a.size() < 7 || a[5] != '/') fail(n, "'" + key + "' unix address must be absolute, like \"unix:/run/outrigger-http.sock\"");
    return a;
  }
  size_t colon = a.rfind(':');
  bool bracketed = !a.empty() && a[0] == '[';
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size() || (bracketed && a[colon - 1] != ']')) {
    fail(n, "'" + key + "' must be host:port (\"127.0.0.1:8080\") or unix:/path");
  }
  char* end = nullptr;
  unsigned long port = std::strtoul(a.c_str() + colon + 1, &end, 10);
  if (*end || port > 65535) fail(n, "'" + key + "' has a bad port");
  return a;
}

void Parser::http(const toml::table& t, HttpSettings* s) const {
  checkKeys(t, {"listen", "socket_mode", "max_body_bytes", "header_timeout_ms", "idle_timeout_ms", "max_connections",
                "write_buffer_high_water", "abort_check_ms", "write_timeout_ms", "http2", "require_key", "virtual_keys",
                "default_tenant", "allowed_hosts"},
            "[http]");
  s->where = where(t);
  for (auto&& [k, v] : t) {
    std::string key(k.str());
    if (key == "listen") {
      if (v.is_string()) s->listen = {address(v, key)};
      else if (const toml::array* a = v.as_array()) for (const toml::node& e : *a) s->listen.push_back(address(e, key));
      else fail(v, "'listen' must be an address or an array of addresses");
    } else if (key == "socket_mode") {
      s->socket_mode = fileMode(v, key);
    } else if (key == "max_body_bytes") {
      s->max_body_bytes = uint(v, key, 1ull << 30, 1024);
    } else if (key == "header_timeout_ms") {
      s->header_timeout_ms = static_cast<uint32_t>(uint(v, key, 3600000, 1));
    } else if (key == "idle_timeout_ms") {
      s->idle_timeout_ms = static_cast<uint32_t>(uint(v, key, 86400000, 1));
    } else if (key == "max_connections") {
      s->max_connections = static_cast<uint32_t>(uint(v, key, 1u << 20, 1));
    } else if (key == "write_buffer_high_water") {
      s->write_buffer_high_water = uint(v, key, 1ull << 32);
    } else if (key == "abort_check_ms") {
      s->abort_check_ms = static_cast<uint32_t>(uint(v, key, 60000, 1));
    } else if (key == "write_timeout_ms") {
      s->write_timeout_ms = static_cast<uint32_t>(uint(v, key, 86400000));
    } else if (key == "http2") {
      s->http2 = boolean(v, key);
    } else if (key == "require_key") {
      s->require_key = boolean(v, key);
    } else if (key == "allowed_hosts") {
      s->allowed_hosts = strList(v, key);
    } else if (key == "virtual_keys") {
      const toml::array* a = v.as_array();
      if (!a) fail(v, "'virtual_keys' must be an array of tables: [[http.virtual_keys]]");
      std::set<std::string> seen;
      for (const toml::node& e : *a) {
        VirtualKey entry = virtualKey(e);
        // Two entries with one key would make the tenant depend on the order of the file.
        if (!seen.insert(entry.key).second) fail(e, "this virtual key is already listed in [[http.virtual_keys]]");
        s->virtual_keys.push_back(std::move(entry));
      }
    } else if (key == "default_tenant") {
      s->default_tenant = str(v, key);
      if (s->default_tenant.empty()) fail(v, "'default_tenant' must not be empty");
    }
  }
  if (s->require_key && s->virtual_keys.empty()) fail(t, "require_key = true needs at least one [[http.virtual_keys]]");
}

VirtualKey Parser::virtualKey(const toml::node& e) const {
  const toml::table* vk = e.as_table();
  if (!vk) fail(e, "each [[http.virtual_keys]] entry must be a table");
  checkKeys(*vk, {"key", "tenant", "tenants"}, "[[http.virtual_keys]]");
  const toml::node* key_node = vk->get("key");
  const toml::node* tenant_node = vk->get("tenant");
  if (!key_node || !tenant_node) fail(e, "[[http.virtual_keys]] needs 'key' and 'tenant'");
  VirtualKey entry{str(*key_node, "key"), str(*tenant_node, "tenant"), {}};
  if (entry.key.empty() || entry.tenant.empty()) fail(e, "virtual key and tenant must not be empty");
  if (const toml::node* t = vk->get("tenants")) entry.tenants = strList(*t, "tenants");
  return entry;
}

void Parser::admin(const toml::table& t, AdminSettings* s) const {
  checkKeys(t, {"listen", "token", "allowed_hosts"}, "[admin]");
  s->where = where(t);
  if (const toml::node* l = t.get("listen")) s->listen = address(*l, "listen");
  if (const toml::node* k = t.get("token")) {
    // A token from a file or a Kubernetes secret often ends in a newline that no client sends.
    std::string token = str(*k, "token");
    size_t first = token.find_first_not_of(" \t\r\n"), last = token.find_last_not_of(" \t\r\n");
    s->token = first == std::string::npos ? "" : token.substr(first, last - first + 1);
    if (s->token.empty()) fail(*k, "'token' must not be empty (leave it out for no token)");
    for (unsigned char c : s->token) {
      if (c < 0x20 || c == 0x7f) fail(*k, "'token' must not hold control characters: no client could send it");
    }
  }
  if (const toml::node* h = t.get("allowed_hosts")) s->allowed_hosts = strList(*h, "allowed_hosts");
}

PeerRule Parser::peer(const toml::node& n) const {
  const toml::table* t = n.as_table();
  if (!t) fail(n, "each [[server.peers]] entry must be a table");
  checkKeys(*t, {"uid", "gid", "tenants", "default_tenant"}, "[[server.peers]]");
  PeerRule r;
  r.where = where(n);
  if (const toml::node* u = t->get("uid")) r.uid = static_cast<int64_t>(uint(*u, "uid", 0xfffffffeu));
  if (const toml::node* g = t->get("gid")) r.gid = static_cast<int64_t>(uint(*g, "gid", 0xfffffffeu));
  if ((r.uid < 0) == (r.gid < 0)) fail(n, "a [[server.peers]] rule needs exactly one of 'uid' and 'gid'");
  const toml::node* tenants = t->get("tenants");
  if (!tenants) fail(n, "a [[server.peers]] rule needs 'tenants' (use [\"*\"] for any)");
  r.tenants = strList(*tenants, "tenants");
  if (r.tenants.empty()) fail(*tenants, "'tenants' must name at least one tenant, or \"*\"");
  for (const std::string& name : r.tenants) {
    if (name.empty()) fail(*tenants, "'tenants' must not contain an empty name");
  }
  if (const toml::node* d = t->get("default_tenant")) {
    r.default_tenant = str(*d, "default_tenant");
    bool allowed = false;
    for (const std::string& name : r.tenants) allowed = allowed || name == "*" || name == r.default_tenant;
    if (!allowed) fail(*d, "'default_tenant' must be one of 'tenants'");
  } else if (r.tenants[0] != "*") {
    r.default_tenant = r.tenants[0];
  }
  return r;
}

}  // namespace outrigger::config::detail
