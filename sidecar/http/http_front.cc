#include "http/http_front.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <vector>

#include "chain/chain.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/rate_limited_log.h"
#include "common/utf8.h"
#include "http/chat_exchange.h"
#include "http/count_tokens.h"
#include "http/local_origin.h"
#include "http/messages_request.h"
#include "http/responses_request.h"
#include "http/chat_response.h"
#include "http/embeddings_response.h"
#include "http/reply.h"
#include "http/request_framing.h"
#include "ipc/request_checks.h"

namespace outrigger::http {

struct HttpFront::Handler {
  h2o_handler_t super;
  HttpFront* front;
};

namespace {

// The uv handle h2o reads from, and who to tell when h2o closes it.
struct SocketHandle {
  union {
    uv_handle_t handle;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } uv;
  HttpFront* front;
  std::atomic<size_t>* count;
};

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A caller-supplied request id is kept when it is short and printable; otherwise one is made.
bool usableRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// A positive number of milliseconds (or seconds, with scale 1000); false when malformed.
// How long after an SDK's own timeout its request's deadline falls (see the deadline headers).
constexpr uint32_t kSdkDeadlineGraceMs = 1000;

bool parseMs(std::string_view v, double scale, uint32_t* out) {
  *out = 0;
  if (v.empty()) return true;
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end || !(d > 0) || d > 1e12) return false;
  double ms = d * scale;
  *out = ms > 4e9 ? 4000000000u : std::max<uint32_t>(1, static_cast<uint32_t>(ms));
  return true;
}

// x-outrigger-cache: `bypass`, `no-store` or both, comma-separated (as a proxy merges two
// headers), in any case. False for anything else: a caller who asked the cache not to keep an
// answer must not have it kept because of a spelling.
bool parseCacheControl(std::string_view v, bool* bypass, bool* no_store) {
  *bypass = *no_store = false;
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view item = v.substr(0, comma);
    v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;
    std::string word(item);
    for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (word == "bypass") {
      *bypass = true;
    } else if (word == "no-store") {
      *no_store = true;
    } else {
      return false;
    }
  }
  return true;
}

// How an identity refusal reads in an error body (the same type names in OpenAI's and
// Anthropic's shapes).
struct Refusal {
  const char* reason;
  const char* type;
  const char* code;
};

Refusal refusalFor(int status) {
  if (status == 401) return {"Unauthorized", "authentication_error", "invalid_api_key"};
  if (status == 403) return {"Forbidden", "permission_error", ""};
  return {"Bad Request", "invalid_request_error", ""};
}

// What the socket front checks of a request (request_checks.h), on the one the HTTP front built:
// bounds, and every string UTF-8. The body's own UTF-8 check is not enough: RapidJSON decodes an
// escaped lone surrogate ("\udc00") to bytes that are not UTF-8, which a rewriting guardrail
// could then not copy and an exporter could not send.
Status checkBuiltCall(const ChatCall& call) {
  if (call.request) {
    if (Status s = ipc::checkRequestStrings(*call.request, call.frame.size); !s.isOk()) return s;
  }
  if (call.embed) {
    for (size_t i = 0; i < call.embed->inputs.size(); ++i) {
      if (!validUtf8(call.embed->inputs[i])) {
        return Status(Code::kInvalidArgument, "input[" + std::to_string(i) + "] is not valid UTF-8");
      }
    }
  }
  return Status::ok();
}

}  // namespace

HttpFront::HttpFront(uv_loop_t* loop, chain::Engine& engine, const config::HttpSettings& settings, HttpMetrics& metrics)
    : engine_(engine), settings_(settings), metrics_(metrics) {
  h2o_config_init(&config_);
  config_.server_name = h2o_iovec_init(H2O_STRLIT("outrigger"));
  config_.max_request_entity_size = settings_.max_body_bytes;
  config_.http1.req_timeout = settings_.header_timeout_ms;
  config_.http1.upgrade_to_http2 = settings_.http2 ? 1 : 0;
  config_.http2.idle_timeout = settings_.idle_timeout_ms;
  // h2o's default runs 100 requests of one HTTP/2 connection at once, each with its chain request
  // and answer; the rest of the (up to 100) streams wait for a slot.
  config_.http2.max_concurrent_requests_per_connection = kHttp2RequestsPerConnection;
  h2o_hostconf_t* host = h2o_config_register_host(&config_, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  auto* handler = reinterpret_cast<Handler*>(h2o_create_handler(path, sizeof(Handler)));
  handler->super.on_req = &HttpFront::onRequest;
  handler->front = this;
  h2o_context_init(&ctx_, loop, &config_);
  accept_ctx_ = {};
  accept_ctx_.ctx = &ctx_;
  accept_ctx_.hosts = config_.hosts;
  uv_timer_init(loop, &abort_timer_);
  abort_timer_.data = this;
  uv_timer_init(loop, &h2_sweep_);
  h2_sweep_.data = this;
  if (settings_.http2) {
    uint64_t every = std::clamp<uint64_t>(settings_.header_timeout_ms / 4, 50, 1000);
    uv_timer_start(&h2_sweep_, &HttpFront::onHttp2Sweep, every, every);
    uv_unref(reinterpret_cast<uv_handle_t*>(&h2_sweep_));
  }
  for (const config::VirtualKey& k : settings_.virtual_keys) keys_[k.key] = &k;
}

// The loop has closed every handle by now; h2o's context is not disposed because its
// connections are gone with the loop (h2o asserts on disposing a context with live ones).
HttpFront::~HttpFront() = default;

void HttpFront::accept(int fd, bool is_unix) {
  auto* s = new SocketHandle;
  s->front = this;
  s->count = &connections_;
  int rc;
  if (is_unix) {
    uv_pipe_init(ctx_.loop, &s->uv.pipe, 0);
    rc = uv_pipe_open(&s->uv.pipe, fd);
  } else {
    uv_tcp_init(ctx_.loop, &s->uv.tcp);
    rc = uv_tcp_open(&s->uv.tcp, fd);
    if (rc == 0) uv_tcp_nodelay(&s->uv.tcp, 1);
  }
  if (rc != 0) {
    ::close(fd);
    releaseReserved();
    uv_close(&s->uv.handle, [](uv_handle_t* h) { delete reinterpret_cast<SocketHandle*>(h); });
    return;
  }
  h2o_socket_t* sock = h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(&s->uv.handle), &HttpFront::onSocketClosed);
  h2o_accept(&accept_ctx_, sock);
}

void HttpFront::onSocketClosed(uv_handle_t* h) {
  auto* s = reinterpret_cast<SocketHandle*>(h);
  s->count->fetch_sub(1, std::memory_order_relaxed);
  delete s;
}

void HttpFront::drain() {
  if (draining_) return;
  draining_ = true;
  h2o_context_request_shutdown(&ctx_);  // HTTP/2 gets GOAWAY; idle HTTP/1 stays (see drain())
}

void HttpFront::endAll(Code code, std::string_view message) {
  std::vector<ChatExchange*> all(exchanges_.begin(), exchanges_.end());
  for (ChatExchange* ex : all) {
    if (exchanges_.count(ex)) ex->cancel(code, message);
  }
}

void HttpFront::abandonAll() {
  uv_timer_stop(&abort_timer_);
  uv_timer_stop(&h2_sweep_);
  for (ChatExchange* ex : exchanges_) ex->abandon();
}

void HttpFront::exchangeDone(ChatExchange* ex) {
  exchanges_.erase(ex);
  delete ex;
  if (exchanges_.empty()) uv_timer_stop(&abort_timer_);
}

int HttpFront::onRequest(h2o_handler_t* self, h2o_req_t* req) {
  return reinterpret_cast<Handler*>(self)->front->route(req);
}

int HttpFront::route(h2o_req_t* req) {
  std::string_view given = requestHeader(req, "x-request-id");
  std::string request_id = usableRequestId(given) ? std::string(given) : "req_" + engine_.newTraceId();
  std::string_view path = view(req->path_normalized);
  std::string_view method = view(req->method);
  if (startsWith(path, "/v1/")) path.remove_prefix(3);
  uint64_t t0 = monoNowNs();
  auto simple = [&](std::string_view endpoint, int status) {
    metrics_.record(endpoint, "none", status, static_cast<double>(monoNowNs() - t0) / 1e9);
  };
  addHeader(req, "x-request-id", request_id);
  if (startsWith(path, "/messages")) addHeader(req, "request-id", request_id);  // where the anthropic SDKs read it
  // Browsers' requests from other pages: a rebound DNS name in Host, or another page's Origin
  // (local_origin.h). SDKs and servers send neither.
  if (!hostAllowed(view(req->authority), settings_.allowed_hosts)) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "http", "refused a request naming Host '" + std::string(view(req->authority).substr(0, 100)) +
                                           "' (not an IP literal, a one-label name or in [http] allowed_hosts)");
    req->http1_is_persistent = 0;
    sendError(req, 421, "Misdirected Request", "invalid_request_error",
              "this Host is not one the API answers; name it in [http] allowed_hosts", "", "misdirected_request");
    simple("other", 421);
    return 0;
  }
  if (std::string_view origin = requestHeader(req, "origin"); !origin.empty() && !loopbackOrigin(origin)) {
    static RateLimitedLog log;
    log.write(LogLevel::kWarn, "http", "refused a browser request from origin '" + std::string(origin.substr(0, 100)) + "'");
    sendError(req, 403, "Forbidden", "permission_error",
              "requests from web pages of other origins are refused: call the API from a server", "", "cross_origin");
    simple("other", 403);
    return 0;
  }
  if (draining_) {
    // This instance is going away (a rolling restart): the client should retry elsewhere, on a
    // new connection (Connection: close).
    req->http1_is_persistent = 0;
    addHeader(req, "retry-after", "1");
    addHeader(req, "retry-after-ms", "1000");
    sendError(req, 503, "Service Unavailable", "service_unavailable_error", "server is shutting down; retry", "",
              "unavailable", /*should_retry=*/true);
    simple("other", 503);
    return 0;
  }
  if (const char* framing = framingError(req)) {
    req->http1_is_persistent = 0;  // where the next request starts is in doubt
    sendError(req, 400, "Bad Request", "invalid_request_error", framing);
    simple("other", 400);
    return 0;
  }
  bool chat = path == "/chat/completions";
  bool messages = path == "/messages";
  bool models = path == "/models" || startsWith(path, "/models/");
  bool embeddings = path == "/embeddings";
  bool responses = path == "/responses";
  std::string_view wanted = chat || messages || embeddings || responses ? "POST" : "GET";
  if ((chat || messages || models || embeddings || responses) && method != wanted) {
    addHeader(req, "allow", wanted);
    sendError(req, 405, "Method Not Allowed", "invalid_request_error",
              "method " + utf8Replaced(method) + " is not allowed here; use " + std::string(wanted));
    simple("other", 405);
    return 0;
  }
  if (chat || messages || embeddings || responses) {
    handleChat(req, request_id,
               chat ? Dialect::kOpenAi : messages ? Dialect::kAnthropic : responses ? Dialect::kResponses : Dialect::kEmbeddings);
    return 0;
  }
  if (startsWith(path, "/responses/")) {
    // Retrieving, cancelling or deleting a stored response: nothing is stored here.
    sendError(req, 404, "Not Found", "invalid_request_error",
              "stored responses are not supported: this gateway keeps no responses", "", "not_found");
    simple("responses", 404);
    return 0;
  }
  if (path == "/messages/count_tokens") {
    Caller caller = identify(req);
    if (caller.refusal) {
      Refusal r = refusalFor(caller.refusal);
      sendMessagesError(req, caller.refusal, r.reason, r.type, caller.why);
    } else if (method != "POST") {
      addHeader(req, "allow", "POST");
      sendMessagesError(req, 405, "Method Not Allowed", "invalid_request_error", "use POST");
    } else {
      handleCountTokens(req, std::move(caller.tenant));
    }
    simple("count_tokens", req->res.status);
    return 0;
  }
  if (models) {
    Caller caller = identify(req);
    if (caller.refusal) {
      Refusal r = refusalFor(caller.refusal);
      sendError(req, caller.refusal, r.reason, r.type, caller.why, "", r.code);
      simple("models", caller.refusal);
      return 0;
    }
    handleModels(req, path.size() > 8 ? path.substr(8) : std::string_view());
    simple("models", req->res.status);
    return 0;
  }
  // What the caller sent is quoted in JSON, which must stay UTF-8 (%FF decodes to a lone byte).
  sendError(req, 404, "Not Found", "invalid_request_error", "unknown path " + utf8Replaced(path), "", "unknown_url");
  simple("other", 404);
  return 0;
}

HttpFront::Caller HttpFront::identify(h2o_req_t* req) const {
  std::string_view key = bearerToken(requestHeader(req, "authorization"));
  if (key.empty()) key = requestHeader(req, "x-api-key");
  ssize_t at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-outrigger-tenant"), -1);
  if (at >= 0 && h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-outrigger-tenant"), at) >= 0) {
    return {"", 400, "x-outrigger-tenant is given more than once"};
  }
  std::string_view wanted = at >= 0 ? view(req->headers.entries[at].value) : std::string_view();
  auto it = key.empty() ? keys_.end() : keys_.find(std::string(key));
  if (it == keys_.end()) {
    if (settings_.require_key) return {"", 401, "invalid API key"};
    // Without a key every caller is the one default tenant; naming another needs a key.
    if (!wanted.empty() && wanted != settings_.default_tenant) {
      return {"", 403, "x-outrigger-tenant '" + utf8Replaced(wanted) + "' needs a virtual key allowed to name it"};
    }
    return {settings_.default_tenant, 0, ""};
  }
  const config::VirtualKey& vk = *it->second;
  if (wanted.empty() || wanted == vk.tenant) return {vk.tenant, 0, ""};
  for (const std::string& t : vk.tenants) {
    if (t == "*" || t == wanted) return {std::string(wanted), 0, ""};
  }
  return {"", 403, "this virtual key may not name tenant '" + utf8Replaced(wanted) + "'"};
}

void HttpFront::handleChat(h2o_req_t* req, std::string_view request_id, Dialect dialect) {
  uint64_t t0 = monoNowNs();
  bool anthropic = dialect == Dialect::kAnthropic;
  auto refuse = [&](int status) {
    metrics_.record(anthropic                          ? "messages"
                    : dialect == Dialect::kEmbeddings ? "embeddings"
                    : dialect == Dialect::kResponses  ? "responses"
                                                      : "chat_completions",
                    "none",
                    status,
                    static_cast<double>(monoNowNs() - t0) / 1e9);
  };
  // Errors before the chain runs, in the caller's dialect.
  auto reject = [&](int status, const char* reason, std::string_view type, const std::string& message,
                    std::string_view param, std::string_view code) {
    if (anthropic) {
      sendMessagesError(req, status, reason, type, message);  // both dialects name these types alike
    } else {
      sendError(req, status, reason, type, message, param, code);
    }
    refuse(status);
  };
  CallMetadata meta;
  Caller caller = identify(req);
  if (caller.refusal) {
    Refusal r = refusalFor(caller.refusal);
    return reject(caller.refusal, r.reason, r.type, caller.why, "", r.code);
  }
  meta.tenant = std::move(caller.tenant);
  meta.user = requestHeader(req, "x-outrigger-user");
  meta.session = requestHeader(req, "x-outrigger-session");
  meta.route = requestHeader(req, "x-outrigger-route");
  meta.prompt_id = requestHeader(req, "x-outrigger-prompt-id");
  meta.prompt_version = requestHeader(req, "x-outrigger-prompt-version");
  meta.traceparent = requestHeader(req, "traceparent");
  meta.request_id = request_id;
  for (std::string_view line : requestHeaderLines(req, "x-outrigger-cache")) {
    bool bypass = false, no_store = false;
    if (!parseCacheControl(line, &bypass, &no_store)) {
      return reject(400, "Bad Request", "invalid_request_error",
                    "x-outrigger-cache must be bypass, no-store or both, comma-separated", "", "");
    }
    meta.cache_bypass = meta.cache_bypass || bypass;
    meta.cache_no_store = meta.cache_no_store || no_store;
  }
  if (!parseMs(requestHeader(req, "x-outrigger-cache-ttl-ms"), 1, &meta.cache_ttl_ms)) {
    return reject(400, "Bad Request", "invalid_request_error",
                  "x-outrigger-cache-ttl-ms must be a positive number of milliseconds", "", "");
  }
  if (!parseMs(requestHeader(req, "x-outrigger-timeout-ms"), 1, &meta.timeout_ms)) {
    return reject(400, "Bad Request", "invalid_request_error",
                  "x-outrigger-timeout-ms must be a positive number of milliseconds", "", "");
  }
  // The client libraries' own headers (OpenAI's and Anthropic's SDKs, both Stainless-built): a bad
  // value is their bug, not a refusal. Both send their httpx read timeout: the openai Python SDK
  // as x-stainless-read-timeout, the anthropic one as x-stainless-timeout (timeout.read). It
  // bounds the wait for the next bytes, so it is a unary call's whole wait but only the gap
  // between a stream's chunks: a stream gets no deadline from it (ours, when sent, wins). The
  // deadline falls a moment after the SDK's own: the SDK times out first and reports it as a
  // timeout (then the disconnect cancels the upstream call), and the deadline is the backstop
  // when no disconnect arrives.
  uint32_t sdk_timeout = 0;
  if ((parseMs(requestHeader(req, "x-stainless-read-timeout"), 1000, &sdk_timeout) && sdk_timeout) ||
      (parseMs(requestHeader(req, "x-stainless-timeout"), 1000, &sdk_timeout) && sdk_timeout)) {
    meta.read_timeout_ms = sdk_timeout + kSdkDeadlineGraceMs;
  }
  const std::pair<const char*, std::string_view> texts[] = {
      {"x-outrigger-user", meta.user},           {"x-outrigger-session", meta.session},
      {"x-outrigger-route", meta.route},         {"x-outrigger-prompt-id", meta.prompt_id},
      {"x-outrigger-prompt-version", meta.prompt_version}, {"traceparent", meta.traceparent},
      {"x-outrigger-tenant", meta.tenant}};
  for (auto [name, value] : texts) {
    if (!validUtf8(value)) {
      return reject(400, "Bad Request", "invalid_request_error", std::string(name) + " is not valid UTF-8", "", "");
    }
  }
  if (!meta.route.empty() && !(engine_.chain() && engine_.chain()->findForCaller(meta.route))) {
    return reject(400, "Bad Request", "invalid_request_error",
                  "x-outrigger-route names no route: '" + std::string(meta.route) + "'", "", "");
  }
  ChatCall call;
  RequestError error;
  bool built = anthropic                           ? buildMessagesCall(view(req->entity), meta, &call, &error)
               : dialect == Dialect::kEmbeddings ? buildEmbeddingsCall(view(req->entity), meta, &call, &error)
               : dialect == Dialect::kResponses  ? buildResponsesCall(view(req->entity), meta, &call, &error)
                                                 : buildChatCall(view(req->entity), meta, &call, &error);
  if (!built) return reject(400, "Bad Request", "invalid_request_error", error.message, error.param, "");
  if (Status checked = checkBuiltCall(call); !checked.isOk()) {
    return reject(400, "Bad Request", "invalid_request_error", checked.message(), "", "");
  }
  const chain::Route* r = engine_.chain() ? engine_.chain()->resolve(meta.route.empty() ? call.model : meta.route) : nullptr;
  auto* ex = new ChatExchange(*this, req, std::string(request_id), r ? r->name : "none");
  exchanges_.insert(ex);
  if (settings_.abort_check_ms && !uv_is_active(reinterpret_cast<uv_handle_t*>(&abort_timer_))) {
    uv_timer_start(&abort_timer_, &HttpFront::onAbortCheck, settings_.abort_check_ms, settings_.abort_check_ms);
  }
  auto encoder = anthropic                           ? makeAnthropicEncoder(call, request_id)
                 : dialect == Dialect::kEmbeddings ? makeEmbeddingsEncoder(call.model, call.base64)
                 : dialect == Dialect::kResponses  ? makeResponsesEncoder(call, request_id)
                                                   : makeOpenAiEncoder(call, request_id);
  ex->start(std::move(call), next_stream_id_++, std::move(encoder));
}

// Exact where the model the route calls has a known encoding (count_tokens.h); else 501, since an
// estimate presented as a count would mislead a budget.
void HttpFront::handleCountTokens(h2o_req_t* req, std::string tenant) {
  CallMetadata meta;
  meta.tenant = std::move(tenant);
  meta.route = requestHeader(req, "x-outrigger-route");
  meta.counting = true;
  if (!meta.route.empty() && !(engine_.chain() && engine_.chain()->findForCaller(meta.route))) {
    return sendMessagesError(req, 400, "Bad Request", "invalid_request_error",
                             "x-outrigger-route names no route: '" + utf8Replaced(meta.route) + "'");
  }
  ChatCall call;
  RequestError error;
  if (!buildMessagesCall(view(req->entity), meta, &call, &error)) {
    return sendMessagesError(req, 400, "Bad Request", "invalid_request_error", error.message);
  }
  if (Status checked = checkBuiltCall(call); !checked.isOk()) {
    return sendMessagesError(req, 400, "Bad Request", "invalid_request_error", checked.message());
  }
  const chain::Route* route = engine_.chain() ? engine_.chain()->resolve(meta.route.empty() ? call.model : meta.route) : nullptr;
  TokenCount count = countPromptTokens(call, route);
  if (!count.known) {
    return sendMessagesError(req, 501, "Not Implemented", "api_error",
                             "count_tokens has no exact tokenizer for model '" + count.model +
                                 "' (it counts OpenAI's encodings only); count with the provider's own endpoint");
  }
  sendWhole(req, 200, "OK", "application/json", "{\"input_tokens\":" + std::to_string(count.input_tokens) + "}");
}

void HttpFront::handleModels(h2o_req_t* req, std::string_view id) {
  const auto& chain = engine_.chain();
  std::vector<std::string> ids;
  if (chain) {
    for (const auto& [name, route] : chain->routes) {
      if (!route.internal) ids.push_back(name);
    }
  }
  if (id.empty()) return sendWhole(req, 200, "OK", "application/json", modelListBody(ids));
  // A model a chat request would be served for: a route's name, or any name when a default route
  // takes the models no route names (clients check a model before they use it).
  if (chain && chain->resolve(id)) return sendWhole(req, 200, "OK", "application/json", modelBody(utf8Replaced(id)));
  sendError(req, 404, "Not Found", "invalid_request_error", "the model '" + utf8Replaced(id) + "' does not exist",
            "model", "model_not_found");
}

// h2o 2.2 bounds how long an HTTP/1 request may take to arrive (req_timeout) but not an HTTP/2
// one: a stream's body would be buffered (up to max_body_bytes, on each of up to 100 streams) for
// as long as the client trickles it. A connection with a body still arriving header_timeout_ms
// after its request began is closed, as HTTP/1 ones are; its socket is shut down so that h2o
// reads end-of-file and closes it as it would any other (its streams end with it).
//
// Streams past the kHttp2RequestsPerConnection that run wait in h2o with their whole bodies (h2o
// takes up to 100 streams a connection and keeps opening its window): nothing here sees them, so
// one connection could hold a hundred bodies of max_body_bytes. The bodies waiting on one
// connection may take as much as the requests running on it; past that it is closed.
void HttpFront::onHttp2Sweep(uv_timer_t* t) {
  auto* self = static_cast<HttpFront*>(t->data);
  struct Sweep {
    timeval now;
    uint64_t limit_ms;
    std::map<h2o_socket_t*, uint64_t> waiting_bytes;
  } sweep{*h2o_get_timestamp(&self->ctx_, nullptr, nullptr), self->settings_.header_timeout_ms, {}};
  auto check = [](h2o_req_t* req, void* data) -> int {
    auto& s = *static_cast<Sweep*>(data);
    // A whole body whose request h2o has not handed on yet: waiting for a slot.
    if (req->entity.base != nullptr && h2o_timeval_is_null(&req->processed_at.at) && req->conn->callbacks->get_socket) {
      if (h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn)) s.waiting_bytes[sock] += req->entity.len;
      return 0;
    }
    const timeval& began = req->timestamps.request_begin_at;
    // A body still arriving: begun (h2o notes when) and not complete (h2o sets the entity then).
    if (h2o_timeval_is_null(&req->timestamps.request_body_begin_at) || req->entity.base != nullptr) return 0;
    int64_t age_ms = (s.now.tv_sec - began.tv_sec) * 1000 + (s.now.tv_usec - began.tv_usec) / 1000;
    if (age_ms < static_cast<int64_t>(s.limit_ms) || !req->conn->callbacks->get_socket) return 0;
    h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
    if (int fd = sock ? h2o_socket_get_fd(sock) : -1; fd >= 0) ::shutdown(fd, SHUT_RDWR);
    return 0;
  };
  self->config_.http2.callbacks.foreach_request(&self->ctx_, check, &sweep);
  const uint64_t budget = uint64_t{kHttp2RequestsPerConnection} * self->settings_.max_body_bytes;
  for (const auto& [sock, bytes] : sweep.waiting_bytes) {
    if (bytes <= budget) continue;
    if (int fd = h2o_socket_get_fd(sock); fd >= 0) ::shutdown(fd, SHUT_RDWR);
    self->metrics_.http2WaitingBodiesOver();
  }
}

// HTTP/1 stops reading a connection while its request is served, so a client that gives up
// (closes) is only noticed here: poll's POLLRDHUP, which reports the end of the client's stream
// even behind bytes nobody read (a request pipelined before the close, where a peek would see
// only those bytes), or an error on the socket. HTTP/2 keeps reading and tells us through the
// request's disposal instead.
void HttpFront::onAbortCheck(uv_timer_t* t) {
  auto* self = static_cast<HttpFront*>(t->data);
  std::vector<ChatExchange*> gone;
  for (ChatExchange* ex : self->exchanges_) {
    h2o_req_t* req = ex->request();
    if (!ex->waiting() || req->version >= 0x200 || !req->conn->callbacks->get_socket) continue;
    h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (fd < 0) continue;
    pollfd p{fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) gone.push_back(ex);
  }
  for (ChatExchange* ex : gone) {
    if (self->exchanges_.count(ex)) ex->clientGone();
  }
  self->shutDownStalledWrites();
}

// A connection whose output the client has not taken for write_timeout_ms: it stopped reading,
// and its answers would wait in memory (up to twice the high water mark each) with the socket for
// as long as the client likes. The connection is shut down; h2o then stops its responses. An
// HTTP/2 connection counts as stopped only when every stream on it that has output is held: one
// stream waiting on its own flow-control window (its reader busy elsewhere) must not take the
// others with it. A stream still waiting for its answer says nothing of the client: one of them
// kept the held answers beside it in memory for good.
void HttpFront::shutDownStalledWrites() {
  const uint64_t limit = settings_.write_timeout_ms;
  const uint64_t now = uv_now(ctx_.loop);
  if (limit == 0 || now < limit) return;
  // The common case, checked every abort_check_ms: nothing held that long, nothing to group.
  if (std::none_of(exchanges_.begin(), exchanges_.end(), [&](ChatExchange* ex) { return ex->writeHeldSince(now - limit); })) {
    return;
  }
  struct Socket {
    bool all_held = true;
    std::vector<ChatExchange*> held;
  };
  std::map<int, Socket> sockets;
  for (ChatExchange* ex : exchanges_) {
    h2o_req_t* req = ex->request();
    if (!req || !req->conn->callbacks->get_socket) continue;
    h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (fd < 0 || !ex->wroteAny()) continue;
    Socket& s = sockets[fd];
    if (ex->writeHeldSince(now - limit)) s.held.push_back(ex);
    else s.all_held = false;
  }
  for (auto& [fd, s] : sockets) {
    if (!s.all_held || s.held.empty()) continue;
    for (ChatExchange* ex : s.held) ex->giveUpWrite();
    ::shutdown(fd, SHUT_RDWR);
    metrics_.writeTimeout();
  }
}

}  // namespace outrigger::http
