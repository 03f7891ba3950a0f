// One HTTP exchange through libcurl, for daemon tests that talk to the HTTP front or the admin
// server, and the port a listener bound (port 0 in the config) from the daemon's log.
#pragma once

#include <curl/curl.h>

#include <string>
#include <vector>

#include "support/daemon_process.h"
#include "support/raw_http.h"

namespace outrigger::testing {

struct CurlReply {
  long status = 0;  // 0: the exchange failed
  std::string head, body;
};

// GET `url`, or POST `body` (JSON) to it when not empty, with `headers` ("name: value") added.
inline CurlReply curlCall(const std::string& url, const std::string& body = "",
                          const std::vector<std::string>& headers = {}) {
  auto collect = +[](char* data, size_t size, size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
  };
  CurlReply reply;
  CURL* e = curl_easy_init();
  curl_slist* list = curl_slist_append(nullptr, "content-type: application/json");
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &reply.head);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  if (!body.empty()) curl_easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(e);
  return reply;
}

// The port the listener named `what` ("admin endpoints", "OpenAI-compatible API") bound; 0 when
// its line never appears.
inline int boundPort(const DaemonProcess& d, const std::string& what) {
  return loggedPort(d, what + " listening on 127\\.0\\.0\\.1:(\\d+)");
}

}  // namespace outrigger::testing
