#include "upstream_process.h"
#include "support/child_process.h"

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace outrigger::testing {
namespace {

size_t collect(char* data, size_t size, size_t count, void* userp) {
  static_cast<std::string*>(userp)->append(data, size * count);
  return size * count;
}

long request(const std::string& url, const std::string* body, std::string* out) {
  CURL* e = curl_easy_init();
  std::string sink;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);  // the test's own self-signed upstream
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &sink);
  curl_slist* headers = curl_slist_append(nullptr, "content-type: application/json");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  if (body) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, long(body->size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->c_str());
  }
  long code = 0;
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
  return code;
}

}  // namespace

UpstreamProcess::UpstreamProcess(const std::string& tls_cert, const std::string& script, const std::string& python)
    : tls_(!tls_cert.empty()) {
  int fds[2];
  if (pipe(fds) != 0) return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ == 0) {
    outrigger::testing::endWithParent(parent);
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::string path = std::string(OUTRIGGER_SOURCE_DIR) + "/tests/upstream/" + script;
    const char* py = python.c_str();
    if (!tls_cert.empty()) {
      execlp(py, py, path.c_str(), "--port", "0", "--tls-cert", tls_cert.c_str(), (char*)nullptr);
    }
    execlp(py, py, path.c_str(), "--port", "0", (char*)nullptr);
    _exit(127);
  }
  close(fds[1]);
  FILE* f = fdopen(fds[0], "r");
  char line[128];
  if (f && fgets(line, sizeof line, f)) std::sscanf(line, "PORT %d", &port_);
  if (f) fclose(f);
}

UpstreamProcess::~UpstreamProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string UpstreamProcess::baseUrl() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

bool UpstreamProcess::script(const std::string& steps_json) {
  return post("/_control/script", "{\"steps\": " + steps_json + "}") == 200;
}

bool UpstreamProcess::reset() { return post("/_control/reset", "{}") == 200; }

std::string UpstreamProcess::log() {
  std::string out;
  get("/_control/log", &out);
  return out;
}

long UpstreamProcess::post(const std::string& path, const std::string& body, std::string* out) {
  return request(baseUrl() + path, &body, out);
}

long UpstreamProcess::get(const std::string& path, std::string* out) { return request(baseUrl() + path, nullptr, out); }

}  // namespace outrigger::testing
