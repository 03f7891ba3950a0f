#include "http/request_framing.h"

#include <strings.h>

#include <string_view>

// picohttpparser, the parser h2o reads requests with; libh2o exports it but installs no header.
extern "C" {
struct phr_header {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
};
int phr_parse_request(const char* buf, size_t len, const char** method, size_t* method_len, const char** path,
                      size_t* path_len, int* minor_version, struct phr_header* headers, size_t* num_headers,
                      size_t last_len);
}

namespace outrigger::http {

const char* framingError(h2o_req_t* req) {
  // Only HTTP/1 requests with a body can disagree about its length (HTTP/2 frames it itself).
  if (req->version >= 0x200 || req->entity.base == nullptr || req->conn->callbacks->get_socket == nullptr) return nullptr;
  h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
  if (sock == nullptr || sock->input == nullptr || sock->input->bytes == nullptr) return nullptr;
  // h2o 2.2 consumes a request's bytes only once it has ended, and points the entity into the
  // same buffer (a chunked body is decoded in place): the header block is what lies before it.
  // Reading only inside the buffer keeps this safe should a future h2o lay its buffer out
  // otherwise (the check then finds nothing).
  const char* begin = sock->input->bytes;
  const char* end = req->entity.base;
  if (end <= begin || end > begin + sock->input->size) return nullptr;
  const char *method, *path;
  size_t method_len, path_len;
  int minor = 0;
  phr_header headers[128];
  size_t count = sizeof headers / sizeof headers[0];
  if (phr_parse_request(begin, static_cast<size_t>(end - begin), &method, &method_len, &path, &path_len, &minor,
                        headers, &count, 0) <= 0) {
    return nullptr;
  }
  std::string_view first;
  bool chunked = false;
  for (size_t i = 0; i < count; ++i) {
    std::string_view name(headers[i].name, headers[i].name_len);
    if (name.size() == 17 && ::strncasecmp(name.data(), "transfer-encoding", 17) == 0) chunked = true;
    if (name.size() != 14 || ::strncasecmp(name.data(), "content-length", 14) != 0) continue;
    std::string_view value(headers[i].value, headers[i].value_len);
    if (first.data() == nullptr) first = value;
    else if (value != first) return "conflicting Content-Length headers";
  }
  // h2o reads the body by Transfer-Encoding; a proxy in front may have read it by Content-Length,
  // and taken what follows for another request (RFC 9112 6.3: reject, then close).
  if (chunked && first.data() != nullptr) return "both Content-Length and Transfer-Encoding headers";
  return nullptr;
}

}  // namespace outrigger::http
