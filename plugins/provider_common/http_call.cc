// The shared upstream call lifecycle (see http_call.h).
#include "http_call.h"

#include <cstring>
#include <ctime>
#include <stdexcept>

#include "secret_ref.h"

namespace outrigger::providers {

using namespace outrigger::plugin;

namespace {

uint64_t keyOf(outrigger_request r) { return (uint64_t(r.slot) << 32) | r.generation; }

// The URL without scheme and host: what a cassette keys by, with the request body.
std::string_view pathOf(std::string_view url) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  return slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
}

// The response headers a recording keeps: what the parsers and the retry hints read.
bool recordedHeader(std::string_view lower_name) {
  return lower_name == "content-type" || lower_name == "retry-after" || lower_name == "retry-after-ms" ||
         lower_name == "x-should-retry";
}

uint32_t msSince(uint64_t from_ns, uint64_t now_ns) { return uint32_t(now_ns > from_ns ? (now_ns - from_ns) / 1000000 : 0); }

// How long the body may take to end after a stream's terminal event. A server ends it at once;
// one that holds the connection open (some proxies) would otherwise hold the caller's end frame
// until the idle timeout, 30 s by default.
constexpr uint32_t kTerminalGraceMs = 200;

}  // namespace

HttpProvider::HttpProvider(Host host, std::string_view name) : Provider(host, name) {
  if (!host.hasHttp()) throw std::runtime_error("the host offers no HTTP client (plugin ABI 1.1 needed)");
}

HttpProvider::~HttpProvider() {
  for (auto& [k, c] : calls_)
    if (c->transfer_live) host().httpCancel(c->handle, c->transfer);
}

const std::string* HttpProvider::nextKey() {
  const auto& keys = http().keys;
  return keys.empty() ? nullptr : &keys[next_key_++ % keys.size()];
}

outrigger_status HttpProvider::send(std::unique_ptr<HttpCall> call, const std::string& url, const std::string& body) {
  HttpCall* c = call.get();
  c->owner = this;
  const HttpSettings& s = http();
  c->sent_ns = host().nowNs();

  if (const CassetteSettings& tape = s.cassette; tape.tape) {
    std::string_view path = pathOf(url);
    CanonicalRequest canonical = canonicalRequest(path, body, tape);
    using Mode = CassetteSettings::Mode;
    if (tape.mode == Mode::kReplay || tape.mode == Mode::kReplayOrRecord) {
      if (auto found = tape.tape->take(canonical.key)) return replay(std::move(call), std::move(found));
      if (tape.mode == Mode::kReplay) {
        std::string values;
        std::string why = tape.tape->explainMiss(path, redactedRequest(canonical.text, tape), &values);
        // What differs is another request's text: the log has it, the caller only where it is.
        if (!values.empty()) host().log(OUTRIGGER_LOG_INFO, why + ": " + values);
        return refuse(c, Failure{OUTRIGGER_CODE_FAILED_PRECONDITION, false, 0, why});
      }
    }
    c->recording = std::make_shared<RecordedExchange>();
    c->recording->key = canonical.key;
    c->recording->path = path;
    c->recording->request = redactedRequest(canonical.text, tape);
  }

  HeaderList owned;  // header values that must live through the call
  owned.emplace_back("content-type", "application/json");
  owned.emplace_back("accept", c->stream ? "text/event-stream" : "application/json");
  dialectHeaders(&owned);
  for (auto& [n, v] : s.headers) owned.emplace_back(n, v);
  std::vector<outrigger_http_header> headers;
  headers.reserve(owned.size());
  for (auto& [n, v] : owned) headers.push_back({str(n), str(v)});

  outrigger_http_request req;
  std::memset(&req, 0, sizeof req);
  req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
  req.method = str("POST");
  req.url = str(url);
  req.headers = headers.data();
  req.header_count = headers.size();
  req.body = str(body);
  req.connect_timeout_ms = s.connect_ms;
  req.first_byte_timeout_ms = s.first_byte_ms;
  req.idle_timeout_ms = s.idle_ms;
  req.total_timeout_ms = s.total_ms;
  outrigger_status st = host().httpRequest(c->handle, req, c, &c->transfer);
  if (st != OUTRIGGER_OK) {
    sendFailure(c, Failure{OUTRIGGER_CODE_INTERNAL, false, 0, "cannot start the upstream request"});
    return OUTRIGGER_PENDING;
  }
  c->transfer_live = true;
  c->serial = ++last_serial_;
  calls_.emplace(keyOf(c->handle), std::move(call));
  return OUTRIGGER_PENDING;
}

outrigger_status HttpProvider::refuse(HttpCall* call, const Failure& f) {
  sendFailure(call, f);
  return OUTRIGGER_PENDING;
}

void HttpProvider::cancel(outrigger_request request) {
  auto it = calls_.find(keyOf(request));
  if (it == calls_.end()) return;
  HttpCall* c = it->second.get();
  c->finished = true;
  if (c->transfer_live) {
    c->transfer_live = false;
    host().httpCancel(c->handle, c->transfer);
  }
  if (c->in_callback == 0) calls_.erase(it);  // else the callback frees it on the way out
}

void HttpProvider::resume(outrigger_request request) {
  auto it = calls_.find(keyOf(request));
  if (it == calls_.end()) return;
  HttpCall* c = it->second.get();
  c->paused = false;
  // Held across http_resume too: the transport may deliver the held body, and even the end of
  // the transfer, from inside it; the call must outlive that.
  ++c->in_callback;
  pump(c);
  if (!c->finished && !c->paused && c->transfer_live) host().httpResume(c->handle, c->transfer);
  if (!c->finished && !c->paused && c->replay) replayBody(c);
  --c->in_callback;
  reap(c);
}

outrigger_status HttpProvider::replay(std::unique_ptr<HttpCall> call, std::shared_ptr<const RecordedExchange> exchange) {
  HttpCall* c = call.get();
  c->replay = std::move(exchange);
  uint64_t key = keyOf(c->handle);
  c->serial = ++last_serial_;
  calls_.emplace(key, std::move(call));
  // From the loop's next turn, as a transfer's callbacks would come: never inside start.
  outrigger_status st = host().post(c->handle, [this, key](outrigger_status status) {
    auto it = calls_.find(key);
    if (status != OUTRIGGER_OK || it == calls_.end() || it->second->finished) return;
    HttpCall* c = it->second.get();
    std::vector<outrigger_http_header> headers;
    for (const auto& [n, v] : c->replay->headers) headers.push_back({str(n), str(v)});
    outrigger_http_response_head head{};
    head.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_response_head);
    head.status = c->replay->status;
    head.headers = headers.data();
    head.header_count = headers.size();
    c->onHead(head);
    replayBody(c);
  });
  if (st != OUTRIGGER_OK) {
    c->finished = true;
    sendFailure(c, Failure{OUTRIGGER_CODE_INTERNAL, false, 0, "cannot replay the recorded answer"});
    reap(c);
  }
  return OUTRIGGER_PENDING;
}

void HttpProvider::replayBody(HttpCall* c) {
  ++c->in_callback;  // onBody and onComplete may finish the call: it is freed below, not there
  const RecordedExchange& e = *c->replay;
  bool waiting = false;
  while (!c->finished && !c->paused && c->replay_next < e.pieces.size()) {
    const RecordedPiece& piece = e.pieces[c->replay_next];
    uint32_t elapsed = msSince(c->sent_ns, host().nowNs());
    if (http().cassette.latency && piece.at_ms > elapsed) {
      uint64_t key = keyOf(c->handle);
      host().setTimer(c->handle, piece.at_ms - elapsed, [this, key](outrigger_status status) {
        auto it = calls_.find(key);
        if (status == OUTRIGGER_OK && it != calls_.end()) replayBody(it->second.get());
      });
      waiting = true;
      break;
    }
    ++c->replay_next;
    if (c->onBody(piece.bytes) == OUTRIGGER_E_INVALID) {  // over max_body: the transfer would abort
      c->replay_next = e.pieces.size();
      outrigger_http_result aborted{};
      aborted.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_result);
      aborted.error = OUTRIGGER_HTTP_E_ABORTED;
      aborted.status = e.status;
      c->onComplete(aborted);
    }
  }
  if (!waiting && !c->finished && !c->paused && c->replay_next == e.pieces.size() && !c->transfer_ended) {
    outrigger_http_result done{};
    done.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_result);
    done.status = e.status;
    c->onComplete(done);
  }
  --c->in_callback;
  reap(c);
}

void HttpProvider::recordEnd(HttpCall* c, const outrigger_http_result& result) {
  std::shared_ptr<RecordedExchange> e = std::move(c->recording);
  // Only whole HTTP exchanges: a reset or a timeout is the network's, not the upstream's answer;
  // but a stream is whole at its terminal event, whatever the transport did after it.
  bool whole_stream = c->stream && c->terminal_seen && e && e->status >= 200 && e->status < 300;
  if (!e || (result.error != OUTRIGGER_HTTP_OK && !whole_stream) || e->status == 0) return;
  // An upstream may echo a key back ("Incorrect API key provided: sk-..."): never into the file.
  for (RecordedPiece& piece : e->pieces) {
    for (const std::string& k : http().keys) piece.bytes = redact(std::move(piece.bytes), k);
  }
  e->total_ms = msSince(c->sent_ns, host().nowNs());
  if (!http().cassette.tape->append(std::move(e))) {
    host().log(OUTRIGGER_LOG_WARN, "cannot write to the cassette: the exchange is not recorded");
  }
}

void HttpProvider::pump(HttpCall* c) {
  while (!c->paused && !c->finished && !c->queue.empty()) {
    SseEvent ev = std::move(c->queue.front());
    c->queue.pop_front();
    // The terminal event ends the answer: what a server sends after it (Anthropic-compatible ones
    // that add OpenAI's "data: [DONE]", a repeated [DONE]) is not part of it.
    if (c->terminal_seen) continue;
    StreamDelta delta;
    Failure failure;
    switch (decode(c, ev, &delta, &failure)) {
      case DecodeStep::kError:
        return finishFailure(c, failure);
      case DecodeStep::kDelta:
        emit(c, delta);
        break;
      case DecodeStep::kDone:
        if (!c->terminal_seen && !c->transfer_ended) awaitBodyEnd(c);
        c->terminal_seen = true;
        break;
      case DecodeStep::kNothing:
        break;
    }
  }
  if (!c->paused && !c->finished && c->queue.empty() && c->transfer_ended) complete(c);
}

// The answer is whole at the terminal event: a body that has not ended when the grace runs out
// ends here, and the transfer is cancelled as the answer goes.
void HttpProvider::awaitBodyEnd(HttpCall* c) {
  uint64_t key = keyOf(c->handle);
  uint64_t serial = c->serial;  // a later attempt of the same request is another call
  host().setTimer(c->handle, kTerminalGraceMs, [this, key, serial](outrigger_status status) {
    auto it = calls_.find(key);
    if (status != OUTRIGGER_OK || it == calls_.end() || it->second->serial != serial) return;
    HttpCall* call = it->second.get();
    if (call->finished || call->transfer_ended) return;
    call->transfer_ended = true;
    if (call->recording) {  // whole at its terminal event: recorded as if the body had ended
      outrigger_http_result ended{};
      ended.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_result);
      ended.status = call->status;
      recordEnd(call, ended);
    }
    ++call->in_callback;
    pump(call);  // finishes now unless events wait behind a pause (then at the resume)
    --call->in_callback;
    reap(call);
  });
}

void HttpProvider::emit(HttpCall* c, const StreamDelta& d) {
  std::vector<outrigger_tool_call_delta_view> calls;
  for (const auto& t : d.tool_calls) calls.push_back({t.index, str(t.id), str(t.type), str(t.name), str(t.arguments)});
  outrigger_chunk_view chunk = makeChunk(d.content);
  chunk.tool_calls = calls.data();
  chunk.tool_call_count = calls.size();
  chunk.flags = d.refusal ? OUTRIGGER_ANSWER_REFUSAL : 0;
  if (const Answer* head = d.head) {
    chunk.model = str(head->model);
    chunk.system_fingerprint = str(head->system_fingerprint);
    chunk.service_tier = str(head->service_tier);
    chunk.prompt_tokens = head->usage.prompt_tokens;
    chunk.cached_tokens = head->usage.cached_tokens;
    chunk.cache_write_tokens = head->cache_write_tokens;
  }
  outrigger_status st = host().providerChunk(c->handle, chunk);
  if (st == OUTRIGGER_PAUSE) {
    c->paused = true;
  } else if (st == OUTRIGGER_E_STALE) {
    stopTransfer(c);  // the request ended meanwhile (deny, cancel, deadline)
  } else if (st < 0) {
    // The host refused the chunk (text not UTF-8, a tool call index past its bound) and waits for
    // this attempt's done, which fails: the transfer stops here, not at the deadline.
    finishFailure(c, Failure(OUTRIGGER_CODE_UNAVAILABLE, true, 0, "the host refused a chunk of the upstream's answer"));
  }
}

// The transfer ended and every event was handed on: report the outcome.
void HttpProvider::complete(HttpCall* c) {
  if (c->http_error == OUTRIGGER_HTTP_E_CANCELLED) {
    c->finished = true;
    return;
  }
  // A stream whose terminal event came is whole, whatever the transport did after it (a body cut
  // short of its length, a connection held open until the idle timeout): the answer stands.
  bool whole_stream = c->stream && c->terminal_seen && c->status >= 200 && c->status < 300;
  if (c->http_error != OUTRIGGER_HTTP_OK && !c->error_body_cut && !whole_stream) {
    return finishFailure(c, mapTransportError(c->http_error, c->http_detail));
  }
  if (c->status < 200 || c->status >= 300) {
    ErrorHints hints{c->retry_after, c->retry_after_ms, c->should_retry};
    return finishFailure(c, mapHttpError(c->status, c->body, hints, int64_t(std::time(nullptr))));
  }
  completeOk(c);
}

void HttpProvider::finishStream(HttpCall* c, bool done, const Answer& a, std::string_view finish_reason) {
  if (!done) {
    return finishFailure(c, {OUTRIGGER_CODE_UNAVAILABLE, true, 0, "upstream stream ended without its terminal event"});
  }
  outrigger_response_view r = makeResponse();
  r.finish_reason = str(finish_reason);
  r.usage = a.usage;
  r.cache_write_tokens = a.cache_write_tokens;
  r.model = str(a.model);
  r.response_id = str(a.id);
  describeAnswer(a, &r);
  finishOk(c, r);
}

void HttpProvider::finishAnswer(HttpCall* c, const Answer& a) {
  std::vector<outrigger_tool_call_view> calls;
  for (const auto& t : a.tool_calls) calls.push_back({str(t.id), str(t.type), str(t.name), str(t.arguments)});
  outrigger_response_view r = makeResponse();
  r.content = str(a.content);
  r.finish_reason = str(a.finish_reason);
  r.tool_calls = calls.data();
  r.tool_call_count = calls.size();
  r.usage = a.usage;
  r.cache_write_tokens = a.cache_write_tokens;
  r.model = str(a.model);
  r.response_id = str(a.id);
  describeAnswer(a, &r);
  finishOk(c, r);
}

void HttpProvider::describeAnswer(const Answer& a, outrigger_response_view* r) {
  r->flags = a.refusal ? OUTRIGGER_ANSWER_REFUSAL : 0;
  r->system_fingerprint = str(a.system_fingerprint);
  r->service_tier = str(a.service_tier);
}

void HttpProvider::finishOk(HttpCall* c, const outrigger_response_view& r) {
  stopTransfer(c);
  host().providerDone(c->handle, r);
}

void HttpProvider::finishFailure(HttpCall* c, const Failure& f) {
  stopTransfer(c);
  Failure redacted = f;
  for (const std::string& k : http().keys) redacted.message = redact(std::move(redacted.message), k);
  sendFailure(c, redacted);
}

void HttpProvider::sendFailure(HttpCall* c, const Failure& f) {
  outrigger_response_view failure = makeError(f.code, f.message, f.retryable, f.retry_after_ms);
  // A stream cut after its usage event was billed for it: the host keeps what it reported.
  if (const Answer* so_far = streamed(c)) {
    failure.usage = so_far->usage;
    failure.cache_write_tokens = so_far->cache_write_tokens;
  }
  failure.error_type = str(f.upstream_type);
  failure.error_code = str(f.upstream_code);
  host().providerDone(c->handle, failure);
}

void HttpProvider::stopTransfer(HttpCall* c) {
  c->finished = true;
  if (c->transfer_live) {
    c->transfer_live = false;
    host().httpCancel(c->handle, c->transfer);
  }
}

void HttpProvider::reap(HttpCall* c) {
  if (c->finished && c->in_callback == 0) calls_.erase(keyOf(c->handle));
}

outrigger_status HttpCall::onHead(const outrigger_http_response_head& head) {
  status = head.status;
  if (recording) recording->status = head.status;
  for (size_t i = 0; i < head.header_count; ++i) {
    std::string name = lowerAscii(view(head.headers[i].name));
    if (recording && recordedHeader(name)) recording->headers.emplace_back(name, std::string(view(head.headers[i].value)));
    if (name == "retry-after") retry_after.assign(view(head.headers[i].value));
    else if (name == "retry-after-ms") retry_after_ms.assign(view(head.headers[i].value));
    else if (name == "x-should-retry") should_retry = lowerAscii(view(head.headers[i].value));
  }
  return OUTRIGGER_OK;
}

outrigger_status HttpCall::onBody(std::string_view bytes) {
  if (finished) return OUTRIGGER_E_STALE;
  if (recording) {
    // A recording is held whole until the exchange ends: one over max_body_bytes is not kept.
    recorded_bytes += bytes.size();
    if (recorded_bytes > owner->maxBody()) {
      recording.reset();
      owner->host().log(OUTRIGGER_LOG_WARN, "an upstream answer over max_body_bytes is not recorded in the cassette");
    } else {
      recording->pieces.push_back({msSince(sent_ns, owner->host().nowNs()), std::string(bytes)});
    }
  }
  bool sse_body = stream && status >= 200 && status < 300;
  if (!sse_body) {
    if (body.size() + bytes.size() > owner->maxBody()) {
      // Aborts the transfer. An error's status is already known (a proxy's 2 KB HTML 502, a
      // 9 MiB 503): it still decides retries and fallback, as a short error body would.
      error_body_cut = status != 0 && (status < 200 || status >= 300);
      return OUTRIGGER_E_INVALID;
    }
    body.append(bytes);
    return OUTRIGGER_OK;
  }
  std::vector<SseEvent> events;
  if (!sse.feed(bytes, events)) return OUTRIGGER_E_INVALID;
  for (auto& e : events) queue.push_back(std::move(e));
  HttpProvider* p = owner;
  ++in_callback;
  p->pump(this);
  --in_callback;
  if (finished) {
    p->reap(this);  // may free this call: touch nothing after
    return OUTRIGGER_E_STALE;
  }
  return paused ? OUTRIGGER_PAUSE : OUTRIGGER_OK;
}

void HttpCall::onComplete(const outrigger_http_result& result) {
  if (recording) owner->recordEnd(this, result);
  transfer_live = false;
  transfer_ended = true;
  http_error = result.error;
  http_detail.assign(view(result.message));
  if (result.status) status = result.status;
  HttpProvider* p = owner;
  if (!finished) {
    ++in_callback;
    p->pump(this);  // finishes now unless events wait behind a pause
    --in_callback;
  }
  p->reap(this);
}

}  // namespace outrigger::providers
