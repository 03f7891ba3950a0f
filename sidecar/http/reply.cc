#include "http/reply.h"

#include <cctype>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http/chat_response.h"

namespace outrigger::http {

void addHeader(h2o_req_t* req, std::string_view name, std::string_view value) {
  h2o_iovec_t v = h2o_strdup(&req->pool, value.data(), value.size());
  h2o_add_header_by_str(&req->pool, &req->res.headers, name.data(), name.size(), 1, nullptr, v.base, v.len);
}

void sendWhole(h2o_req_t* req, int status, const char* reason, std::string_view content_type, std::string_view body) {
  static h2o_generator_t generator = {nullptr, nullptr};  // never asked to proceed: one final send
  req->res.status = status;
  req->res.reason = reason;
  req->res.content_length = body.size();
  addHeader(req, "content-type", content_type);
  h2o_iovec_t buf = h2o_strdup(&req->pool, body.data(), body.size());
  h2o_start_response(req, &generator);
  h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void sendError(h2o_req_t* req, int status, const char* reason, std::string_view type, std::string_view message,
               std::string_view param, std::string_view code, bool should_retry) {
  addHeader(req, "x-should-retry", should_retry ? "true" : "false");
  sendWhole(req, status, reason, "application/json", errorBody(message, type, param, code));
}

void sendMessagesError(h2o_req_t* req, int status, const char* reason, std::string_view type, std::string_view message) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("type");
  w.String("error");
  w.Key("error");
  w.StartObject();
  w.Key("type");
  w.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  w.EndObject();
  addHeader(req, "x-should-retry", "false");
  sendWhole(req, status, reason, "application/json", std::string_view(buf.GetString(), buf.GetSize()));
}

std::string_view requestHeader(const h2o_req_t* req, std::string_view name) {
  ssize_t i = h2o_find_header_by_str(&req->headers, name.data(), name.size(), -1);
  if (i < 0) return {};
  return view(req->headers.entries[i].value);
}

std::vector<std::string_view> requestHeaderLines(const h2o_req_t* req, std::string_view name) {
  std::vector<std::string_view> lines;
  for (ssize_t i = -1; (i = h2o_find_header_by_str(&req->headers, name.data(), name.size(), i)) >= 0;) {
    lines.push_back(view(req->headers.entries[i].value));
  }
  return lines;
}

std::string_view bearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

bool bearerMatches(std::string_view authorization, std::string_view token) {
  std::string_view given = bearerToken(authorization);
  if (given.size() != token.size() || token.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  return diff == 0;
}

}  // namespace outrigger::http
