#include "http_client/http_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include "common/clock.h"
#include "http_client/plain_http1.h"
#include "http_client/transfer_clock.h"
#include "plugin/str_view.h"

namespace outrigger::http_client {

struct HttpClient::PollContext {
  uv_poll_t poll;
  curl_socket_t fd;
  HttpClient* client;
  int watching = 0;       // UV_READABLE/UV_WRITABLE the poll is started with (0: stopped)
  bool curl_wants = false;  // curl registered the socket (false after CURL_POLL_REMOVE)
};

struct HttpClient::Transfer {
  HttpClient* client = nullptr;
  uint64_t id = 0;
  outrigger_request owner{};
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url, body;
  outrigger_http_sink sink{};
  void* user_data = nullptr;
  uv_timer_t timer;
  char error[CURL_ERROR_SIZE] = {0};

  TransferClock clock;  // curl enforces the connect phase itself

  int status = 0;
  std::vector<std::string> header_text;  // "name\0value" pairs kept alive for on_head
  uint64_t body_bytes = 0;
  bool head_delivered = false;
  bool sink_paused = false;  // the sink asked for no more body
  bool curl_paused = false;  // curl holds a refused write until resume
  bool dead = false;         // no further sink callbacks (cancelled or aborted)
  bool report = true;        // on_complete still owed
  outrigger_http_error forced = OUTRIGGER_HTTP_OK;
};

namespace {

constexpr uint32_t kMinCachedConnections = 256;
constexpr size_t kSpareEasyHandles = 256;  // reset handles kept for the next transfers

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// libcurl applies these to http:// URLs; the plain transport does not, so it stands aside.
bool proxyConfigured() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(name);
    if (v && *v) return true;
  }
  return false;
}

bool hasLineBreak(outrigger_str s) {
  return s.size && (std::memchr(s.data, '\r', s.size) || std::memchr(s.data, '\n', s.size));
}


outrigger_http_error classify(CURLcode rc) {
  switch (rc) {
    case CURLE_OK: return OUTRIGGER_HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return OUTRIGGER_HTTP_E_RESOLVE;
    case CURLE_COULDNT_CONNECT: return OUTRIGGER_HTTP_E_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return OUTRIGGER_HTTP_E_CONNECT_TIMEOUT;  // only the connect timeout is curl's
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return OUTRIGGER_HTTP_E_TLS;
    // CURLE_OUT_OF_MEMORY too: libcurl also says it of a response header line past its 100 KiB
    // limit, the upstream's fault, which the plain transport reports as a transport error.
    default: return OUTRIGGER_HTTP_E_TRANSPORT;
  }
}

}  // namespace

HttpClient::HttpClient(uv_loop_t* loop, HttpClientSettings settings) : loop_(loop), settings_(settings) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  multi_ = curl_multi_init();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &HttpClient::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &HttpClient::onMultiTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long(CURLPIPE_MULTIPLEX));
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, long(settings_.max_host_connections));
  // curl's default cache size follows the number of transfers added, so a dip in load closes
  // keep-alive connections that the next burst has to open again.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long(std::max<uint32_t>(kMinCachedConnections, settings_.max_host_connections * 4)));
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  if (settings_.plain_http1 && !proxyConfigured()) plain_ = std::make_unique<PlainHttp1>(loop_, settings_, counters_);
}

HttpClient::~HttpClient() {
  if (shut_down_) return;
  // The loop never ran the shutdown (a worker that was never started): close here and let the
  // loop run the close callbacks now, while this object (which owns timer_) still exists.
  shutdown();
  uv_run(loop_, UV_RUN_NOWAIT);
}

outrigger_status HttpClient::start(outrigger_request owner, uint64_t deadline_ns, const outrigger_http_request& request,
                                   const outrigger_http_sink& sink, void* user_data, uint64_t* transfer_id) {
  if (shutting_down_) return OUTRIGGER_E_STALE;
  if (!transfer_id || !sink.on_complete || sink.hdr.struct_size < OUTRIGGER_MIN_SIZE_HTTP_SINK) return OUTRIGGER_E_INVALID;
  std::string_view url = sv(request.url);
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) return OUTRIGGER_E_INVALID;
  if (hasLineBreak(request.url) || hasLineBreak(request.method)) return OUTRIGGER_E_INVALID;
  for (size_t i = 0; i < request.header_count; ++i) {
    const auto& h = request.headers[i];
    if (h.name.size == 0 || hasLineBreak(h.name) || hasLineBreak(h.value)) return OUTRIGGER_E_INVALID;
  }
  if (plain_ && PlainHttp1::accepts(url)) {
    uint64_t id = next_id_++;
    outrigger_status st = plain_->start(id, owner, deadline_ns, request, sink, user_data);
    if (st == OUTRIGGER_OK) {
      counters_.started.fetch_add(1, std::memory_order_relaxed);
      owned_[ownerKey(owner)].push_back(id);
      *transfer_id = id;
    }
    return st;
  }

  auto* t = new Transfer;
  t->client = this;
  t->id = next_id_++;
  t->owner = owner;
  t->url.assign(url);
  t->body.assign(sv(request.body));
  t->sink = sink;
  t->user_data = user_data;
  if (!spare_easy_.empty()) {
    t->easy = spare_easy_.back();
    spare_easy_.pop_back();
  } else {
    t->easy = curl_easy_init();
  }
  if (!t->easy) {
    delete t;
    return OUTRIGGER_E_NOMEM;
  }
  for (size_t i = 0; i < request.header_count; ++i) {
    std::string line(sv(request.headers[i].name));
    line += ": ";
    line += sv(request.headers[i].value);
    t->headers = curl_slist_append(t->headers, line.c_str());
  }
  t->headers = curl_slist_append(t->headers, "Expect:");  // no 100-continue round trip

  uint64_t now = monoNowNs();
  t->clock.start(now, request, settings_, deadline_ns);
  uint64_t connect_ms = t->clock.connect_ns / kMsNs;
  if (deadline_ns && deadline_ns > now) connect_ms = std::min<uint64_t>(connect_ms, (deadline_ns - now) / kMsNs + 1);

  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(connect_ms));
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, settings_.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, settings_.verify_tls ? 2L : 0L);
  if (!settings_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, settings_.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &HttpClient::onHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpClient::onWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &HttpClient::onOpenSocket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &HttpClient::onCloseSocket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  std::string method(sv(request.method));
  if (method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);  // else curl waits for the body Content-Length names
  } else {
    if (!t->body.empty() || method == "POST") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, long(t->body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.c_str());
    }
    // A body makes curl POST: any other method with one (a GET with a body) is named outright.
    bool curl_default = method.empty() || method == "POST" || (method == "GET" && t->body.empty());
    if (!curl_default) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  uv_timer_init(loop_, &t->timer);
  t->timer.data = t;
  if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
    t->report = false;
    destroy(t);
    return OUTRIGGER_E_INTERNAL;
  }
  transfers_.emplace(t->id, t);
  owned_[ownerKey(owner)].push_back(t->id);
  counters_.started.fetch_add(1, std::memory_order_relaxed);
  armTimer(t);
  *transfer_id = t->id;
  return OUTRIGGER_OK;
}

HttpClient::Transfer* HttpClient::find(outrigger_request owner, uint64_t id, outrigger_status* status) {
  auto it = transfers_.find(id);
  if (it == transfers_.end() || it->second->dead) {
    *status = OUTRIGGER_E_STALE;
    return nullptr;
  }
  Transfer* t = it->second;
  if (t->owner.slot != owner.slot || t->owner.generation != owner.generation) {
    *status = OUTRIGGER_E_INVALID;
    return nullptr;
  }
  *status = OUTRIGGER_OK;
  return t;
}

size_t HttpClient::active() const { return transfers_.size() + (plain_ ? plain_->active() : 0); }
size_t HttpClient::openSockets() const { return polls_.size() + (plain_ ? plain_->openConnections() : 0); }

outrigger_status HttpClient::cancel(outrigger_request owner, uint64_t transfer_id) {
  if (plain_ && plain_->owns(transfer_id)) return plain_->cancel(owner, transfer_id);
  outrigger_status st;
  Transfer* t = find(owner, transfer_id, &st);
  if (!t) return st;
  counters_.cancelled.fetch_add(1, std::memory_order_relaxed);
  abort(t, /*report=*/false);
  return OUTRIGGER_OK;
}

outrigger_status HttpClient::resume(outrigger_request owner, uint64_t transfer_id) {
  if (plain_ && plain_->owns(transfer_id)) return plain_->resume(owner, transfer_id);
  outrigger_status st;
  Transfer* t = find(owner, transfer_id, &st);
  if (!t) return st;
  t->sink_paused = false;
  t->clock.last_data_ns = monoNowNs();  // the idle clock restarts when the receiver is ready again
  armTimer(t);
  if (t->curl_paused) {
    t->curl_paused = false;
    ++in_curl_;
    curl_easy_pause(t->easy, CURLPAUSE_CONT);  // may deliver the held bytes right away
    --in_curl_;
    runDeferred();
    drainMessages();
  }
  return OUTRIGGER_OK;
}

void HttpClient::abortOwnedBy(outrigger_request owner) {
  // Called at the end of every request: only that request's transfers are looked at.
  auto it = owned_.find(ownerKey(owner));
  if (it == owned_.end()) return;
  std::vector<uint64_t> ids = std::move(it->second);
  owned_.erase(it);
  for (uint64_t id : ids) {
    if (plain_ && plain_->owns(id)) {
      plain_->abortEnded(id);
      continue;
    }
    auto t = transfers_.find(id);
    if (t == transfers_.end() || t->second->dead) continue;  // over already
    counters_.cancelled.fetch_add(1, std::memory_order_relaxed);
    t->second->forced = OUTRIGGER_HTTP_E_CANCELLED;
    abort(t->second, /*report=*/true);
  }
}

void HttpClient::forget(outrigger_request owner, uint64_t transfer_id) {
  auto it = owned_.find(ownerKey(owner));
  if (it == owned_.end()) return;
  std::erase(it->second, transfer_id);
  if (it->second.empty()) owned_.erase(it);
}

void HttpClient::abort(Transfer* t, bool report) {
  if (t->dead) return;
  t->dead = true;
  t->report = report;
  if (t->forced == OUTRIGGER_HTTP_OK) t->forced = OUTRIGGER_HTTP_E_CANCELLED;
  if (in_curl_ > 0) {
    deferred_.push_back(t);  // curl forbids removing a handle from inside its callbacks
  } else {
    finish(t, CURLE_ABORTED_BY_CALLBACK);
  }
}

void HttpClient::runDeferred() {
  if (in_curl_ > 0) return;
  while (!deferred_.empty()) {
    std::vector<Transfer*> batch;
    batch.swap(deferred_);
    for (Transfer* t : batch) finish(t, CURLE_ABORTED_BY_CALLBACK);
  }
}

void HttpClient::finish(Transfer* t, CURLcode rc) {
  curl_multi_remove_handle(multi_, t->easy);
  transfers_.erase(t->id);
  uv_timer_stop(&t->timer);
  if (t->report) {
    t->report = false;
    outrigger_http_result result;
    std::memset(&result, 0, sizeof result);
    result.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_result);
    result.error = t->forced != OUTRIGGER_HTTP_OK ? t->forced : classify(rc);
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    result.status = t->status ? t->status : int32_t(code);
    std::string message;
    if (result.error != OUTRIGGER_HTTP_OK) {
      message = t->forced != OUTRIGGER_HTTP_OK ? endedText(t->forced) : (t->error[0] ? t->error : curl_easy_strerror(rc));
    }
    result.message = {message.data(), message.size()};
    result.body_bytes = t->body_bytes;
    auto& c = counters_;
    if (result.error == OUTRIGGER_HTTP_OK) c.completed.fetch_add(1, std::memory_order_relaxed);
    else if (result.error != OUTRIGGER_HTTP_E_CANCELLED) c.failed.fetch_add(1, std::memory_order_relaxed);
    if (result.error >= OUTRIGGER_HTTP_E_CONNECT_TIMEOUT && result.error <= OUTRIGGER_HTTP_E_DEADLINE) {
      c.timeouts.fetch_add(1, std::memory_order_relaxed);
    }
    t->dead = true;
    t->sink.on_complete(t->user_data, &result);
  }
  destroy(t);
}

void HttpClient::destroy(Transfer* t) {
  if (t->easy) {
    // A reset handle keeps its buffers; reusing it saves an allocation-heavy init per transfer.
    if (!shutting_down_ && spare_easy_.size() < kSpareEasyHandles) {
      curl_easy_reset(t->easy);
      spare_easy_.push_back(t->easy);
    } else {
      curl_easy_cleanup(t->easy);
    }
  }
  t->easy = nullptr;
  curl_slist_free_all(t->headers);
  t->headers = nullptr;
  auto* timer = reinterpret_cast<uv_handle_t*>(&t->timer);
  if (uv_is_closing(timer)) return;  // the loop already closed it (shutdown without a loop)
  uv_close(timer, [](uv_handle_t* h) { delete static_cast<Transfer*>(h->data); });
}

// ------------------------------------------------------------------ timeouts

void HttpClient::armTimer(Transfer* t) {
  if (t->dead) return;
  uint64_t at = t->clock.nextAt(/*connecting=*/false, t->head_delivered, t->sink_paused);
  uv_timer_start(&t->timer, &HttpClient::onTransferTimer, TransferClock::delayMs(monoNowNs(), at), 0);
}

void HttpClient::onTransferTimer(uv_timer_t* timer) {
  auto* t = static_cast<Transfer*>(timer->data);
  t->client->timeoutFired(t);
}

void HttpClient::timeoutFired(Transfer* t) {
  outrigger_http_error e = t->clock.expired(monoNowNs(), /*connecting=*/false, t->head_delivered, t->sink_paused);
  if (e == OUTRIGGER_HTTP_OK) return armTimer(t);  // fired a little early
  t->forced = e;
  abort(t, /*report=*/true);
}

// ------------------------------------------------------------------ curl easy callbacks

size_t HttpClient::onHeader(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * count;
  if (t->dead) return 0;
  if (t->head_delivered) return len;  // trailers
  std::string_view line = trimmed(std::string_view(data, len));
  if (line.rfind("HTTP/", 0) == 0) {
    size_t sp = line.find(' ');
    t->status = sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    t->header_text.clear();
    return len;
  }
  if (!line.empty()) {
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string pair(trimmed(line.substr(0, colon)));
      pair.push_back('\0');
      pair.append(trimmed(line.substr(colon + 1)));
      t->header_text.push_back(std::move(pair));
    }
    return len;
  }
  if (t->status < 200) return len;  // end of an interim (1xx) head
  t->head_delivered = true;
  t->clock.last_data_ns = monoNowNs();
  if (t->sink.on_head) {
    std::vector<outrigger_http_header> headers;
    headers.reserve(t->header_text.size());
    for (const std::string& p : t->header_text) {
      size_t z = p.find('\0');
      headers.push_back({{p.data(), z}, {p.data() + z + 1, p.size() - z - 1}});
    }
    outrigger_http_response_head head;
    std::memset(&head, 0, sizeof head);
    head.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_response_head);
    head.status = t->status;
    head.headers = headers.data();
    head.header_count = headers.size();
    outrigger_status rc = t->sink.on_head(t->user_data, &head);
    if (t->dead) return 0;
    if (rc < 0) {
      t->forced = OUTRIGGER_HTTP_E_ABORTED;
      return 0;
    }
  }
  t->client->armTimer(t);
  return len;
}

size_t HttpClient::onWrite(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * count;
  if (t->dead) return 0;
  if (t->sink_paused) {
    // curl keeps these bytes and offers them again after curl_easy_pause(CONT).
    t->curl_paused = true;
    t->client->counters_.paused.fetch_add(1, std::memory_order_relaxed);
    return CURL_WRITEFUNC_PAUSE;
  }
  t->body_bytes += len;
  t->clock.last_data_ns = monoNowNs();
  t->client->counters_.bytes_received.fetch_add(len, std::memory_order_relaxed);
  outrigger_status rc = OUTRIGGER_OK;
  if (t->sink.on_body) rc = t->sink.on_body(t->user_data, {data, len});
  if (t->dead) return 0;
  if (rc < 0) {
    t->forced = OUTRIGGER_HTTP_E_ABORTED;
    return 0;
  }
  if (rc == OUTRIGGER_PAUSE) t->sink_paused = true;
  t->client->armTimer(t);
  return len;
}

// ------------------------------------------------------------------ sockets and the multi

curl_socket_t HttpClient::onOpenSocket(void* clientp, curlsocktype, struct curl_sockaddr* address) {
  int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  static_cast<HttpClient*>(clientp)->counters_.sockets_opened.fetch_add(1, std::memory_order_relaxed);
  return fd;
}

int HttpClient::onCloseSocket(void* clientp, curl_socket_t fd) {
  // The poll goes first: libuv must forget the fd before its number can be reused.
  static_cast<HttpClient*>(clientp)->stopPoll(fd);
  return ::close(fd);
}

void HttpClient::stopPoll(curl_socket_t fd) {
  auto it = polls_.find(fd);
  if (it == polls_.end()) return;
  PollContext* p = it->second;
  polls_.erase(it);
  uv_poll_stop(&p->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), [](uv_handle_t* h) { delete static_cast<PollContext*>(h->data); });
}

int HttpClient::onSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* self = static_cast<HttpClient*>(userp);
  if (what == CURL_POLL_REMOVE) {
    // A REMOVE can arrive after curl closed the socket, when the number may already belong to
    // a new one: only the poll curl assigned to this registration is touched. An idle
    // keep-alive socket stays watched for reading (restarting a libuv poll costs two epoll_ctl
    // calls per transfer); if it becomes readable while curl does not want it (the server
    // closed it), onPoll stops watching and curl finds it dead when it next tries to reuse it.
    auto it = self->polls_.find(fd);
    if (it != self->polls_.end() && it->second == socketp) {
      PollContext* p = it->second;
      p->curl_wants = false;
      if (p->watching & UV_WRITABLE) self->watch(p, UV_READABLE);
    }
    return 0;
  }
  if (self->shutting_down_) return 0;  // cleanup may ask for polls on cached connections
  PollContext* p = nullptr;
  auto it = self->polls_.find(fd);
  if (it != self->polls_.end()) {
    p = it->second;
  } else {
    p = new PollContext{{}, fd, self};
    if (uv_poll_init_socket(self->loop_, &p->poll, fd) != 0) {
      delete p;
      return -1;
    }
    p->poll.data = p;
    self->polls_.emplace(fd, p);
  }
  curl_multi_assign(self->multi_, fd, p);
  p->curl_wants = true;
  self->watch(p, ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0));
  return 0;
}

void HttpClient::watch(PollContext* p, int events) {
  if (p->watching == events) return;
  p->watching = events;
  if (events) uv_poll_start(&p->poll, events, &HttpClient::onPoll);
  else uv_poll_stop(&p->poll);
}

void HttpClient::onPoll(uv_poll_t* poll, int status, int events) {
  auto* p = static_cast<PollContext*>(poll->data);
  HttpClient* self = p->client;
  if (!p->curl_wants) {
    self->watch(p, 0);  // an idle connection's peer closed it or sent junk: curl will find out
    return;
  }
  int flags = 0;
  if (status < 0) {
    // Never drop a poll error: curl must see it or the transfer hangs (or libuv aborts later).
    // With the events it waits for too, as curl's own poll reports POLLERR: curl then reads, sees
    // the reset, and retries a reused connection's request on a new one; ERR alone fails it.
    self->counters_.poll_errors.fetch_add(1, std::memory_order_relaxed);
    flags = CURL_CSELECT_ERR;
    if (p->watching & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (p->watching & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    p->watching = 0;  // libuv stopped the poll with the error: watch() must start it again
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  self->socketAction(p->fd, flags);
}

int HttpClient::onMultiTimer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<HttpClient*>(userp);
  if (self->shut_down_) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&self->timer_);
  } else {
    // Zero means "now", but socket_action must not run from inside this callback: a 0 ms uv
    // timer fires on the loop's next iteration without sleeping (mapping it to 1 ms, as curl's
    // example does, costs a millisecond on every new transfer).
    uv_timer_start(&self->timer_, &HttpClient::onUvTimer, uint64_t(timeout_ms), 0);
  }
  return 0;
}

void HttpClient::onUvTimer(uv_timer_t* timer) {
  static_cast<HttpClient*>(timer->data)->socketAction(CURL_SOCKET_TIMEOUT, 0);
}

void HttpClient::socketAction(curl_socket_t fd, int events) {
  int running = 0;
  ++in_curl_;
  curl_multi_socket_action(multi_, fd, events, &running);
  --in_curl_;
  runDeferred();
  drainMessages();
}

void HttpClient::drainMessages() {
  if (in_curl_ > 0 || !multi_) return;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* easy = msg->easy_handle;
    CURLcode rc = msg->data.result;
    Transfer* t = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &t);
    if (t) finish(t, rc);
  }
}

void HttpClient::shutdown() {
  if (shut_down_) return;
  shutting_down_ = true;
  if (plain_) plain_->shutdown();
  owned_.clear();
  std::vector<Transfer*> all;
  for (auto& [id, t] : transfers_) all.push_back(t);
  deferred_.clear();  // every deferred transfer is still in transfers_
  for (Transfer* t : all) {
    if (!t->dead) {
      t->dead = true;
      t->report = true;
      t->forced = OUTRIGGER_HTTP_E_CANCELLED;
    }
    finish(t, CURLE_ABORTED_BY_CALLBACK);
  }
  for (CURL* easy : spare_easy_) curl_easy_cleanup(easy);
  spare_easy_.clear();
  curl_multi_cleanup(multi_);  // closes cached connections through onCloseSocket
  multi_ = nullptr;
  std::vector<curl_socket_t> left;
  for (auto& [fd, p] : polls_) left.push_back(fd);
  for (curl_socket_t fd : left) stopPoll(fd);
  auto* timer = reinterpret_cast<uv_handle_t*>(&timer_);
  if (!uv_is_closing(timer)) {
    uv_timer_stop(&timer_);
    uv_close(timer, nullptr);
  }
  shut_down_ = true;
}

}  // namespace outrigger::http_client
