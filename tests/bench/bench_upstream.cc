// A fast OpenAI-shaped upstream for the side-by-side benchmarks (tests/bench/peers): h2o on one
// libuv loop answering every chat completion at once with a fixed `chat.completion` body, and
// GET /v1/models with one model. Native so that the upstream is not what limits the proxies
// measured in front of it. With `echo`, the answer's content is the request's last user message,
// so that an eval's verdicts are known from its prompts (tests/bench/peers/promptfoo).
//
//   bench_upstream PORT [echo]   (listens on 127.0.0.1:PORT until SIGINT/SIGTERM)
#include <h2o.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

constexpr char kCompletion[] =
    R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"hello from the mock upstream"},)"
    R"("finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}})";
constexpr char kModels[] =
    R"({"object":"list","data":[{"id":"bench-model","object":"model","created":0,"owned_by":"bench"}]})";

bool echo_mode = false;
h2o_globalconf_t config;
h2o_context_t context;
h2o_accept_ctx_t accept_context;

int reply(h2o_req_t* req, const char* body, size_t length, int status = 200) {
  req->res.status = status;
  req->res.reason = status == 200 ? "OK" : "Bad Request";
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, nullptr, H2O_STRLIT("application/json"));
  h2o_send_inline(req, body, length);
  return 0;
}

// The content of the last user message in a chat completion request, if it is a string.
const rapidjson::Value* lastUserContent(const rapidjson::Document& request) {
  if (!request.IsObject() || !request.HasMember("messages") || !request["messages"].IsArray()) return nullptr;
  const rapidjson::Value* found = nullptr;
  for (const auto& m : request["messages"].GetArray()) {
    if (m.IsObject() && m.HasMember("role") && m["role"] == "user" && m.HasMember("content") && m["content"].IsString()) {
      found = &m["content"];
    }
  }
  return found;
}

// The fixed completion with the request's last user message as its content (a 400 without one).
int replyEcho(h2o_req_t* req) {
  rapidjson::Document request;
  request.Parse(req->entity.base, req->entity.len);
  const rapidjson::Value* content = lastUserContent(request);
  if (content == nullptr) {
    return reply(req, H2O_STRLIT(R"({"error":{"message":"no user message","type":"invalid_request_error"}})"), 400);
  }
  rapidjson::StringBuffer text;  // the content as a JSON string, quotes and escapes included
  rapidjson::Writer<rapidjson::StringBuffer> writer(text);
  content->Accept(writer);
  static const char kHead[] =
      R"({"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":)";
  static const char kTail[] =
      R"(},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":5,"completion_tokens":5,"total_tokens":10}})";
  size_t length = sizeof kHead - 1 + text.GetSize() + sizeof kTail - 1;
  char* body = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, length));  // freed with the request
  std::memcpy(body, kHead, sizeof kHead - 1);
  std::memcpy(body + sizeof kHead - 1, text.GetString(), text.GetSize());
  std::memcpy(body + sizeof kHead - 1 + text.GetSize(), kTail, sizeof kTail - 1);
  return reply(req, body, length);
}

// The request body has been read in full by the time h2o calls a handler.
int onRequest(h2o_handler_t*, h2o_req_t* req) {
  if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) return reply(req, kModels, sizeof kModels - 1);
  if (echo_mode) return replyEcho(req);
  return reply(req, kCompletion, sizeof kCompletion - 1);
}

void onConnection(uv_stream_t* listener, int status) {
  if (status != 0) return;
  auto* conn = static_cast<uv_tcp_t*>(h2o_mem_alloc(sizeof(uv_tcp_t)));
  uv_tcp_init(listener->loop, conn);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(conn), [](uv_handle_t* h) { free(h); });
    return;
  }
  uv_tcp_nodelay(conn, 1);
  h2o_socket_t* sock =
      h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(conn), [](uv_handle_t* h) { free(h); });
  h2o_accept(&accept_context, sock);
}

void onSignal(uv_signal_t* handle, int) { uv_stop(handle->loop); }

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 18080;
  echo_mode = argc > 2 && std::strcmp(argv[2], "echo") == 0;
  uv_loop_t* loop = uv_default_loop();
  h2o_config_init(&config);
  h2o_hostconf_t* host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = onRequest;
  h2o_context_init(&context, loop, &config);
  accept_context.ctx = &context;
  accept_context.hosts = config.hosts;

  uv_tcp_t listener;
  sockaddr_in addr{};
  uv_tcp_init(loop, &listener);
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (int rc = uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&addr), 0);
      rc != 0 || (rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 1024, onConnection)) != 0) {
    std::fprintf(stderr, "bench_upstream: cannot listen on 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
    return 1;
  }
  uv_signal_t sigint, sigterm;
  uv_signal_init(loop, &sigint);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigint, onSignal, SIGINT);
  uv_signal_start(&sigterm, onSignal, SIGTERM);
  return uv_run(loop, UV_RUN_DEFAULT) < 0 ? 1 : 0;
}
