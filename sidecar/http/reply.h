// Small helpers for answering an h2o request: headers whose values are copied into the request's
// pool, and whole responses with a fixed body.
#pragma once

#include <h2o.h>

#include <string_view>
#include <vector>

namespace outrigger::http {

// Adds a response header; `name` must be a lowercase literal (or otherwise outlive the request),
// `value` is copied.
void addHeader(h2o_req_t* req, std::string_view name, std::string_view value);

// Sends a complete response whose body (copied) is known now.
void sendWhole(h2o_req_t* req, int status, const char* reason, std::string_view content_type, std::string_view body);

// An OpenAI-shaped error response, with x-should-retry saying whether a retry can help.
void sendError(h2o_req_t* req, int status, const char* reason, std::string_view type, std::string_view message,
               std::string_view param = "", std::string_view code = "", bool should_retry = false);

// An Anthropic-shaped error response ({"type":"error","error":{type,message}}), with
// x-should-retry: false.
void sendMessagesError(h2o_req_t* req, int status, const char* reason, std::string_view type, std::string_view message);

// The request header `name` (lowercase), or empty. The first line only, when it is repeated.
std::string_view requestHeader(const h2o_req_t* req, std::string_view name);
// Every line of the request header `name` (lowercase), in order: h2o does not merge repeated
// fields, and HTTP/2 clients send lists as separate lines.
std::vector<std::string_view> requestHeaderLines(const h2o_req_t* req, std::string_view name);

// The token of an "Authorization: Bearer <token>" value (the scheme in any case); empty when the
// value is not a bearer credential.
std::string_view bearerToken(std::string_view authorization);
// True when `authorization` carries exactly `token`; compared in constant time.
bool bearerMatches(std::string_view authorization, std::string_view token);

inline std::string_view view(h2o_iovec_t v) { return {v.base, v.len}; }

}  // namespace outrigger::http
