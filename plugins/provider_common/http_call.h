// The lifecycle of one upstream HTTP call, shared by the HTTP providers: starting the transfer,
// collecting the status, retry hints and body, queueing SSE events behind a host pause, and
// finishing exactly once (redacting keys from failure messages) without touching a call that a
// callback further up the stack still uses. The dialect (request headers, event decoding,
// answers and error bodies) comes in through the virtual hooks of HttpProvider.
#pragma once

#include <outrigger/plugin.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http_settings.h"
#include "sse_parser.h"
#include "wire_common.h"

namespace outrigger::providers {

class HttpProvider;

// One call in flight: the transfer, the parse state and what is queued behind a pause.
// Providers derive from it to keep their decoder and per-call fields.
struct HttpCall : plugin::HttpHandler {
  HttpProvider* owner = nullptr;
  outrigger_request handle{};
  uint64_t serial = 0;  // which call of the provider's this is (timers name it)
  uint64_t transfer = 0;
  bool transfer_live = false;
  bool stream = false;
  int status = 0;
  std::string retry_after, retry_after_ms, should_retry;
  std::string body;             // unary answers and error bodies
  bool error_body_cut = false;  // an error body over max_body_bytes ended the transfer: its status decides
  SseParser sse;
  std::deque<SseEvent> queue;   // events not yet handed on (waiting behind a pause)
  bool paused = false;          // the host answered OUTRIGGER_PAUSE
  bool transfer_ended = false;  // on_complete arrived; finishing waits for the queue
  outrigger_http_error http_error = OUTRIGGER_HTTP_OK;
  std::string http_detail;
  bool finished = false;        // the answer was sent or the request ended
  bool terminal_seen = false;   // a stream's terminal event ([DONE], message_stop) was decoded
  int in_callback = 0;
  // Cassettes: what this call records, or the recording it replays instead of a transfer.
  std::shared_ptr<RecordedExchange> recording;
  size_t recorded_bytes = 0;
  uint64_t sent_ns = 0;
  std::shared_ptr<const RecordedExchange> replay;
  size_t replay_next = 0;  // the next recorded piece to hand on

  // The transfer's callbacks; a replay calls them too, with the recorded head and pieces.
  outrigger_status onHead(const outrigger_http_response_head& head) final;
  outrigger_status onBody(std::string_view bytes) final;
  void onComplete(const outrigger_http_result& result) final;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class HttpProvider : public plugin::Provider {
 public:
  // Throws when the host offers no HTTP client.
  HttpProvider(plugin::Host host, std::string_view name);
  ~HttpProvider() override;

  void cancel(outrigger_request request) override;
  void resume(outrigger_request request) override;

  // Hands queued events on until a pause, an error or the queue runs dry; finishes the call
  // once the transfer has ended and nothing is left.
  void pump(HttpCall* c);
  // Frees a finished call once no callback of it is on the stack.
  void reap(HttpCall* c);
  // A cassette recording's end (HttpCall::onComplete): the exchange goes into the cassette.
  void recordEnd(HttpCall* c, const outrigger_http_result& result);
  size_t maxBody() const { return http().max_body; }

 protected:
  // --- dialect hooks ---
  virtual const HttpSettings& http() const = 0;
  // Headers after content-type and accept and before the configured ones (keys, versions).
  virtual void dialectHeaders(HeaderList* out) = 0;
  // One SSE event of a 2xx stream.
  virtual DecodeStep decode(HttpCall* c, const SseEvent& event, StreamDelta* delta, Failure* failure) = 0;
  // A non-2xx status with its body.
  virtual Failure mapHttpError(int status, std::string_view body, const ErrorHints& hints, int64_t now_unix_s) = 0;
  // The transfer ended with 2xx and every event was handed on.
  virtual void completeOk(HttpCall* c) = 0;
  // Reports a failure as the call's answer (provider_done by default), with the usage a stream
  // reported before it failed.
  virtual void sendFailure(HttpCall* c, const Failure& f);
  // What a 2xx stream has decoded so far (its usage included); nullptr for a unary call.
  virtual const Answer* streamed(HttpCall* c) = 0;

  // --- shared machinery ---
  // Starts the transfer of a call; always PENDING (a failure to start is reported as the answer).
  outrigger_status send(std::unique_ptr<HttpCall> call, const std::string& url, const std::string& body);
  // Answers a call that is never sent (a request the provider will not translate) with `f`;
  // always PENDING, like send().
  outrigger_status refuse(HttpCall* call, const Failure& f);
  // The next key in turn, or nullptr when none is configured.
  const std::string* nextKey();
  // A stream's end: a failure unless the terminal event came, else the summary as the answer.
  void finishStream(HttpCall* c, bool done, const Answer& a, std::string_view finish_reason);
  // A parsed unary answer as the call's answer.
  void finishAnswer(HttpCall* c, const Answer& a);
  // A refusal, the fingerprint and the tier, onto the view that reports `a`.
  static void describeAnswer(const Answer& a, outrigger_response_view* r);
  void finishOk(HttpCall* c, const outrigger_response_view& r);
  void finishFailure(HttpCall* c, const Failure& f);
  // The transfer goes before the answer, so ending the request never calls back into a call
  // that is being finished.
  void stopTransfer(HttpCall* c);

 private:
  void emit(HttpCall* c, const StreamDelta& d);
  // After a stream's terminal event: finishes the call if its body has not ended in a short grace.
  void awaitBodyEnd(HttpCall* c);
  void complete(HttpCall* c);
  // Serves the call from `exchange`, as a transfer would have, from the loop's next turn.
  outrigger_status replay(std::unique_ptr<HttpCall> call, std::shared_ptr<const RecordedExchange> exchange);
  // Hands on recorded pieces until a pause, the recorded pace or the end.
  void replayBody(HttpCall* c);

  std::unordered_map<uint64_t, std::unique_ptr<HttpCall>> calls_;
  uint64_t last_serial_ = 0;
  uint64_t next_key_ = 0;
};

}  // namespace outrigger::providers
