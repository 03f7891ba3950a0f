// Outrigger C++ client: one Unix-socket connection multiplexing many calls to the sidecar.
//
// Thread-safety: a Client may be used from any number of threads. Streaming callbacks run on
// the client's reader thread and must not block for long.
// Reconnect: after a GoAway or a dropped connection, the next call opens a new connection;
// calls a GoAway says the sidecar never took go out again on it, and calls in flight on a
// dropped connection end with a retryable UNAVAILABLE error.
// Liveness: when the sidecar announces a heartbeat (it does by default), a thread of the client
// Pings it that often and drops a connection whose last three Pings went unanswered, so a hung
// sidecar fails even the calls that have no deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "outrigger/socket_path.h"

namespace outrigger::client {

// The wire status set (gRPC numbering).
enum class StatusCode : int32_t {
  kOk = 0, kCancelled = 1, kUnknown = 2, kInvalidArgument = 3, kDeadlineExceeded = 4, kNotFound = 5,
  kAlreadyExists = 6, kPermissionDenied = 7, kResourceExhausted = 8, kFailedPrecondition = 9,
  kAborted = 10, kOutOfRange = 11, kUnimplemented = 12, kInternal = 13, kUnavailable = 14,
  kDataLoss = 15, kUnauthenticated = 16,
};
const char* statusName(StatusCode code);

struct Verdict {
  std::string guardrail;
  int verdict = 0;  // 0 pass, 1 flag, 2 deny, 3 rewrite, 4 skipped, 5 error
  std::string reason;
};

struct Error {
  StatusCode code = StatusCode::kUnknown;
  bool retryable = false;
  uint32_t retry_after_ms = 0;
  std::string origin;
  std::string message;
  std::string trace_id;  // the sidecar's trace id for the call, when it had one
  // The server called a provider for this request, so the upstream may have acted on it: a
  // retry could run it twice.
  bool reached_provider = false;
  // The guardrails' verdicts up to the error: a guardrail's denial names itself here.
  std::vector<Verdict> verdicts;
  std::string toString() const;
};

template <class T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}
  Result(Error e) : v_(std::move(e)) {}
  bool ok() const { return v_.index() == 0; }
  const T& value() const { return std::get<0>(v_); }
  T& value() { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct ToolCall {
  std::string id, type, name, arguments;
};

struct Message {
  std::string role;
  std::string content;
  std::string name;
  std::string tool_call_id;
  std::vector<ToolCall> tool_calls;
};

struct Metadata {
  std::string tenant, user, session, request_id, prompt_id, prompt_version, traceparent;
  std::map<std::string, std::string> tags;
};

// A function the model may call, with the JSON Schema of its arguments.
struct Tool {
  std::string name, description, parameters_json;
};

// The shape the answer must take (OpenAI's response_format).
struct ResponseFormat {
  enum class Type : uint8_t { kText = 0, kJsonObject = 1, kJsonSchema = 2 };
  Type type = Type::kText;
  std::string schema_name, schema_json;  // kJsonSchema
  bool strict = false;
};

struct ChatRequest {
  std::string model;
  std::vector<Message> messages;
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<uint32_t> max_tokens;
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  std::vector<Tool> tools;
  std::string tool_choice;           // "auto" | "none" | "required" | a function's name; "" unset;
                                     // a function named like a mode (or starting with "{"):
                                     // {"type":"function","function":{"name":"none"}}
  std::optional<ResponseFormat> response_format;
  std::string extra_json;            // provider-specific fields, a JSON object
  // Merged over the client's default metadata field by field: a field set here wins, one left
  // empty keeps the default, and the tags of both are kept (a key set here wins).
  std::optional<Metadata> metadata;
  std::chrono::milliseconds timeout{0};  // 0 (or less): the server's default; at most 2^32 - 1 ms
  bool cache_bypass = false;
  bool cache_no_store = false;
  uint32_t cache_ttl_ms = 0;
};

// cached_tokens (read from the provider's prompt cache) and cache_write_tokens (written to it)
// are parts of prompt_tokens; reasoning_tokens is a part of completion_tokens.
struct Usage {
  uint32_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0, reasoning_tokens = 0;
  uint32_t cache_write_tokens = 0;
};

struct Response {
  std::string content;
  std::string finish_reason;
  std::string model;
  std::string trace_id;
  std::vector<ToolCall> tool_calls;
  Usage usage;
  double cost_usd = 0;
  bool cache_hit = false;
  std::vector<Verdict> verdicts;
  // The "stage/instance" that produced the answer when the daemon names it: "fallback/<route>"
  // marks a route's degraded answer, served because every target failed.
  std::string origin;
  std::string message;  // for a degraded answer: why
  // The answer is the model's refusal: `content` is refusal text, not an answer to parse
  // (finish_reason is content_filter).
  bool refusal = false;
  std::string system_fingerprint;  // the upstream's, when it sent one
  std::string service_tier;        // the tier the upstream served the answer on, when it said
};

struct StreamStart {
  std::string model, provider, trace_id;  // model: the upstream's name for it, when it said one
  bool cache_hit = false;
  std::string system_fingerprint, service_tier;
};

struct Chunk {
  uint32_t seq = 0;
  std::string delta;
  bool refusal = false;  // `delta` is refusal text
};

// Callbacks of an asynchronous call; each optional. on_end runs exactly once.
struct CallEvents {
  std::function<void(const StreamStart&)> on_start;
  std::function<void(const Chunk&)> on_chunk;
  std::function<void(const Result<Response>&)> on_end;
};

class Call;  // an in-flight call, shared with the reader thread

// A streaming call: next() yields chunks until the end, then result() has the outcome.
class Stream {
 public:
  ~Stream();
  Stream(Stream&&) noexcept;
  // Blocks for the next chunk; false at the end of the stream.
  bool next(Chunk* chunk);
  // The final outcome (blocks until the end). Response::content holds the joined text. With a
  // timeout, next() and result() wait at most until it (and a short grace for the sidecar's own
  // end) has passed, then cancel the call and end it DEADLINE_EXCEEDED.
  const Result<Response>& result();
  void cancel();

 private:
  friend class Client;
  struct State;
  explicit Stream(std::shared_ptr<State> s);
  std::shared_ptr<State> state_;
};

class Client {
 public:
  struct Options {
    std::string socket_path;  // empty: $OUTRIGGER_SOCKET, else the default (socket_path.h)
    // Check the uid of the process serving the socket before sending anything (SO_PEERCRED).
    // Unset: on for the default path, off for an explicit or $OUTRIGGER_SOCKET path.
    std::optional<bool> verify_server;
    // The only uid trusted to serve; turns verification on. Unset: see trustedServerUids.
    std::optional<uid_t> expected_server_uid;
    std::string client_name = "outrigger-cpp";
    uint32_t max_frame_size = 4u << 20;
    Metadata default_metadata;
    // The handshake with the sidecar must complete within this. One handshake runs at a time: a
    // call that finds one under way waits for it as long as this (or its own timeout, if sooner),
    // then takes the new connection or fails with the handshake's error.
    std::chrono::milliseconds connect_timeout{5000};
    // A frame the sidecar does not take within this (or the call's own timeout, if shorter) drops
    // the connection: a frame half written cannot be taken back.
    std::chrono::milliseconds write_timeout{10000};
    // A stream's chunks that next() has not taken yet (their text and a few dozen bytes each);
    // past this the call is cancelled and ends RESOURCE_EXHAUSTED (its chunks are dropped), and
    // other calls go on. A chunk that arrives when none waits is always taken.
    size_t max_buffered_stream_bytes = 64u << 20;
  };

  Client();
  explicit Client(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects now (calls connect lazily otherwise); returns the handshake's error, if any.
  std::optional<Error> connect();

  // Unary call; blocks until the answer or the deadline.
  Result<Response> chat(const ChatRequest& request);
  // Streaming call with pull-style iteration.
  Stream stream(const ChatRequest& request);
  // Asynchronous call. Returns a call id for cancel() (0 when it was not sent: on_end ran at
  // once); the id stays the call's should a GoAway send it again on another connection.
  // A request whose frame exceeds the max_frame_size negotiated with the sidecar is not sent: it
  // ends INVALID_ARGUMENT. on_end may start the next call.
  uint64_t start(const ChatRequest& request, CallEvents events, bool streaming = true);
  // Sends Cancel for the call; its on_end then reports CANCELLED (unless it already ended).
  void cancel(uint64_t call_id);
  // Sends a score for an earlier answer.
  std::optional<Error> feedback(const std::string& trace_id, double score, const std::string& comment = "");

  // How many connections this client has opened (reconnects show here).
  uint64_t connectionsOpened() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace outrigger::client
