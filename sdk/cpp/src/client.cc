#include "outrigger/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "outrigger_generated.h"

namespace outrigger::client {

namespace w = outrigger::wire;

const char* statusName(StatusCode code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                 "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  auto i = static_cast<size_t>(code);
  return i < 17 ? kNames[i] : "UNKNOWN";
}

std::string Error::toString() const {
  std::string s = statusName(code);
  if (!origin.empty()) s += " [" + origin + "]";
  if (!message.empty()) s += ": " + message;
  return s;
}

namespace {

// Names the calling thread (15 characters at most), where the platform lets a thread do so.
void nameThisThread(const char* name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

Error makeError(StatusCode code, std::string message, bool retryable = false) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  e.retryable = retryable;
  e.origin = "client";
  return e;
}

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

using Clock = std::chrono::steady_clock;

// The sidecar ends a call at its deadline itself; a local wait gives its end this long to arrive
// before cancelling, and the cancel as long again.
constexpr auto kEndGrace = std::chrono::milliseconds(250);

// A request's timeout as the wire carries it, in 32-bit milliseconds: a longer one is the longest
// (about 49.7 days), a negative one none (the server's default). Deadlines computed from it
// cannot overflow the clock, and a huge timeout is not cut to a short one by wrapping.
std::chrono::milliseconds wireTimeout(std::chrono::milliseconds t) {
  return std::clamp(t, std::chrono::milliseconds(0), std::chrono::milliseconds(UINT32_MAX));
}

// The shortest heartbeat the daemon's config allows (server.heartbeat_ms).
constexpr auto kMinHeartbeat = std::chrono::milliseconds(100);
// The protocol's major version: a sidecar that answers another one is refused at the handshake.
constexpr uint16_t kProtoMajor = 1;
constexpr char kClientClosed[] = "the client was closed";

// The milliseconds from now until `t` for poll(), at least 0 and rounded up.
int pollMsUntil(Clock::time_point t) {
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

// A call's metadata over the client's default, merged as every SDK merges it: a field the call
// sets wins, one it leaves empty keeps the default, and the tags of both are kept (the call's on
// a key both set).
Metadata mergeMetadata(const Metadata& base, const Metadata& call) {
  Metadata m = base;
  auto over = [](std::string& field, const std::string& set) {
    if (!set.empty()) field = set;
  };
  over(m.tenant, call.tenant);
  over(m.user, call.user);
  over(m.session, call.session);
  over(m.request_id, call.request_id);
  over(m.prompt_id, call.prompt_id);
  over(m.prompt_version, call.prompt_version);
  over(m.traceparent, call.traceparent);
  for (const auto& [k, v] : call.tags) m.tags[k] = v;
  return m;
}

Error frameTooLarge(size_t frame_bytes, uint32_t max_frame) {
  return makeError(StatusCode::kInvalidArgument, "the request's frame of " + std::to_string(frame_bytes) +
                                                      " bytes exceeds the max_frame_size agreed with the sidecar (" +
                                                      std::to_string(max_frame) + " bytes)");
}

}  // namespace

// The right to write to a connection's socket, which a writer may give up waiting for at its
// deadline. A flag under a mutex and a condition variable rather than std::timed_mutex, whose
// steady-clock wait (pthread_mutex_clocklock) ThreadSanitizer does not see, so every unlock after
// one reads to it as a bug.
class WriteGate {
 public:
  bool acquireBy(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!free_.wait_until(lock, deadline, [&] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  bool tryAcquire() {
    std::lock_guard<std::mutex> lock(mu_);
    if (held_) return false;
    held_ = true;
    return true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    free_.notify_one();
  }

  // Holds the gate from a successful acquire to the end of its scope.
  class Held {
   public:
    Held(WriteGate& gate, bool acquired) : gate_(gate), held_(acquired) {}
    ~Held() { unlock(); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    bool ownsIt() const { return held_; }
    void unlock() {
      if (held_) gate_.release();
      held_ = false;
    }

   private:
    WriteGate& gate_;
    bool held_;
  };

 private:
  std::mutex mu_;
  std::condition_variable free_;
  bool held_ = false;
};

// What a blocking call waits on. It is shared with the call's end callback, which may run after
// the caller stopped waiting (a local deadline), so it cannot live on the caller's stack.
struct EndWaiter {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<Response>> out;

  void set(const Result<Response>& r) {
    std::lock_guard<std::mutex> lock(mu);
    out = r;
    cv.notify_all();
  }
  bool waitUntil(Clock::time_point t) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, t, [&] { return out.has_value(); });
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return out.has_value(); });
  }
};

// What a chat call needs to go out again on another connection, should the one it went out on
// answer GoAway before taking it.
struct Outgoing {
  ChatRequest request;
  bool streaming = false;
  std::chrono::milliseconds timeout{0};  // the call's own; 0: none
  Clock::time_point deadline;            // with a timeout: when the call ends
};

// How many times a GoAway may hand one call back before it ends UNAVAILABLE: each time it went
// to a sidecar that turned it away unread.
constexpr int kMaxResends = 3;

// One in-flight call.
class Call {
 public:
  uint64_t id = 0;                           // the caller's handle for cancel (start's return)
  std::shared_ptr<const Outgoing> outgoing;  // null: never sent again (a Feedback)
  int resends = 0;                           // times a GoAway handed it back
  CallEvents events;
  Response response;  // built from chunks and the end frame
  std::atomic<bool> ended{false};

  void finish(const Result<Response>& r) {
    if (ended.exchange(true)) return;
    if (events.on_end) events.on_end(r);
  }
};

// One socket connection with its reader thread.
class Connection {
 public:
  // Receives, on the reader thread, the calls a GoAway said the sidecar never took.
  using Refused = std::function<void(std::vector<std::shared_ptr<Call>>)>;
  Connection(uint64_t id, bool verify, Refused refused) : id_(id), verify_(verify), refused_(std::move(refused)) {}
  // Joins the reader thread: see destroyableHere.
  ~Connection() {
    shutdownSocket();
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  // Whether the calling thread may run the destructor, which waits for the reader thread: not
  // that reader itself (from a callback), nor the reader of another connection while this one's
  // still runs (two readers could wait for each other). Once false for a connection on a thread,
  // only its reader ending makes it true there.
  bool destroyableHere() const {
    if (reading_ == nullptr) return true;
    return reading_ != this && !reader_running_.load();
  }

  std::optional<Error> open(const std::string& path, const Client::Options& opt, Clock::time_point call_deadline) {
    write_timeout_ = opt.write_timeout;
    // The handshake's reads and writes give up at this time (the connect timeout, or the first
    // call's own deadline if sooner); the reader thread has none.
    read_until_ = std::min(Clock::now() + opt.connect_timeout, call_deadline);
    // Non-blocking: a connect to a sidecar whose accept queue is full fails at once instead of
    // waiting for ever (every read and write here waits in poll with a deadline anyway).
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return makeError(StatusCode::kUnavailable, std::string("socket: ") + std::strerror(errno), true);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return makeError(StatusCode::kInvalidArgument, "socket path too long");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::string why = errno == EAGAIN ? "the sidecar is not accepting connections (its queue is full)" : std::strerror(errno);
      return makeError(StatusCode::kUnavailable, "connect " + path + ": " + why, true);
    }
    if (verify_) {
      if (auto err = verifyServer(path, opt)) return err;
    }
    flatbuffers::FlatBufferBuilder b(256);
    auto name = b.CreateString(opt.client_name);
    auto version = b.CreateString(OUTRIGGER_VERSION);
    auto lang = b.CreateString("cpp");
    auto features = static_cast<w::Feature>(static_cast<uint64_t>(w::Feature::Streaming) |
                                            static_cast<uint64_t>(w::Feature::Cancel) |
                                            static_cast<uint64_t>(w::Feature::Feedback) |
                                            static_cast<uint64_t>(w::Feature::GoAway));
    auto hello = w::CreateHello(b, kProtoMajor, 0, name, version, lang, opt.max_frame_size, features);
    finishFrame(b, 0, w::Body::Hello, hello.Union());
    std::string no_answer = "the sidecar on " + path + " did not complete the handshake in time (connect_timeout " +
                            std::to_string(opt.connect_timeout.count()) + " ms, or the call's deadline)";
    {
      WriteGate::Held held(write_gate_, write_gate_.acquireBy(*read_until_));
      if (!held.ownsIt()) return makeError(StatusCode::kUnavailable, no_answer + " (Hello not sent)", true);
      if (writeLocked(b.GetBufferPointer(), b.GetSize(), *read_until_) != Write::kDone) {
        return makeError(StatusCode::kUnavailable, no_answer + " (Hello not sent)", true);
      }
    }
    std::vector<uint64_t> frame;
    size_t size = 0;
    if (!readFrame(&frame, &size, opt.max_frame_size)) {
      return makeError(StatusCode::kUnavailable, Clock::now() >= *read_until_ ? no_answer : "no HelloAck", true);
    }
    const w::Frame* f = w::GetSizePrefixedFrame(frame.data());
    if (f->body_type() == w::Body::Error) {
      const auto* e = f->body_as_Error();
      Error err = makeError(static_cast<StatusCode>(e->status()), str(e->message()));
      err.origin = "server";
      return err;
    }
    if (f->body_type() != w::Body::HelloAck) return makeError(StatusCode::kInternal, "expected HelloAck");
    const w::HelloAck* ack = f->body_as_HelloAck();
    if (ack->proto_major() != kProtoMajor) {
      return makeError(StatusCode::kFailedPrecondition, "the sidecar speaks protocol " + std::to_string(ack->proto_major()) +
                                                            "." + std::to_string(ack->proto_minor()) +
                                                            ", this client speaks " + std::to_string(kProtoMajor) + ".0");
    }
    max_frame_ = opt.max_frame_size;
    // The sidecar drops the connection, and every call on it, for a frame above its own limit.
    // HelloAck names the smaller of the two sizes (0: none): below ours, that is the sidecar's
    // limit; equal to ours, the sidecar's is at least that, and ours is kept as the bound.
    max_send_frame_ = ack->max_frame_size() ? std::min(opt.max_frame_size, ack->max_frame_size()) : opt.max_frame_size;
    heartbeat_ = std::chrono::milliseconds(ack->heartbeat_ms());
    read_until_.reset();
    reader_running_ = true;
    reader_ = std::thread([this] {
      nameThisThread("or-client-read");  // for top -H, perf and /proc/<pid>/task/*/comm
      reading_ = this;
      readLoop();
      reader_running_ = false;
    });
    return std::nullopt;
  }

  bool usable() const { return !broken_.load() && !going_away_.load() && !client_closed_.load(); }
  // The client is being destroyed: the calls still open end CANCELLED (not retryable), since a
  // retry would go to a client that is going away.
  void closeForClient() {
    client_closed_ = true;
    shutdownSocket();
  }
  std::chrono::milliseconds heartbeat() const { return heartbeat_; }
  uint32_t maxSendFrame() const { return max_send_frame_; }

  // From the client's heartbeat thread, once per interval: Pings the sidecar, and gives the
  // connection up when three Pings in a row went unanswered. Nothing read since the last tick
  // while the reader was waiting on the socket is one unanswered Ping; a reader away in a
  // caller's callback is not the sidecar's silence.
  void heartbeatTick() {
    if (heartbeat_.count() == 0 || broken_) return;
    uint64_t reads = reads_.load(std::memory_order_relaxed);
    if (reads != reads_at_tick_ || !listening_.load(std::memory_order_relaxed)) {
      silent_ticks_ = 0;
    } else if (++silent_ticks_ >= 3) {
      drop("no frame from the sidecar for " + std::to_string(3 * heartbeat_.count()) + " ms (heartbeat every " +
           std::to_string(heartbeat_.count()) + " ms)");
      return;
    }
    reads_at_tick_ = reads;
    flatbuffers::FlatBufferBuilder b(64);
    auto body = w::CreatePing(b, ++pings_);
    finishFrame(b, 0, w::Body::Ping, body.Union());
    sendControl(std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  }
  uint64_t id() const { return id_; }

  // Why send() sent nothing: the connection was lost (the call may go to another one), a frame
  // was not taken by the deadline (the call is not to be tried again), or the call's frame is
  // larger than the sidecar takes (nor is it).
  struct Unsent {
    enum class Why { kLost, kTimedOut, kTooLarge } why = Why::kLost;
    size_t frame_bytes = 0;  // kTooLarge: the frame's, less its length prefix
  };

  // Builds a call's frame with `build`, for a stream id taken from `next_id`, registers the call
  // under that id and writes the frame, all under the write lock: ids then reach the daemon in
  // increasing order whichever thread gets there first, as it requires (it refuses a smaller
  // one, not a gap). Returns the id, or 0 when the call was not sent, *unsent saying why; a call
  // the reader has taken in the meantime is its to end, as lost. A frame not written by
  // `deadline` drops the connection.
  using BuildFrame = std::function<void(flatbuffers::FlatBufferBuilder&, uint64_t stream_id)>;
  uint64_t send(std::atomic<uint64_t>& next_id, std::shared_ptr<Call> call, const BuildFrame& build,
                Clock::time_point deadline, Unsent* unsent) {
    *unsent = {};
    WriteGate::Held write_lock(write_gate_, write_gate_.acquireBy(deadline));
    if (!write_lock.ownsIt()) {  // another frame is stuck: it drops the connection
      unsent->why = Unsent::Why::kTimedOut;
      return 0;
    }
    uint64_t stream_id = next_id.fetch_add(1);
    thread_local flatbuffers::FlatBufferBuilder b(1024);
    b.Clear();
    build(b, stream_id);
    if (size_t frame_bytes = b.GetSize() - sizeof(uint32_t); frame_bytes > max_send_frame_) {
      *unsent = {Unsent::Why::kTooLarge, frame_bytes};
      return 0;
    }
    {
      // Checked with the lock GoAway takes its calls under: a call registered after it would
      // wait for an end the sidecar does not send (it is never taken), so it goes elsewhere.
      std::lock_guard<std::mutex> lock(calls_mu_);
      if (broken_ || going_away_) return 0;
      calls_[stream_id] = std::move(call);
    }
    Write w = writeLocked(b.GetBufferPointer(), b.GetSize(), deadline);
    if (w == Write::kDone) flushControlsLocked(deadline);
    if (w != Write::kDone) {
      bool mine;
      {
        std::lock_guard<std::mutex> lock(calls_mu_);
        mine = calls_.erase(stream_id) == 1;
      }
      if (w == Write::kFailed) broken_ = true;  // no later call goes on it; the reader ends the rest
      if (w == Write::kTimedOut) {
        drop("the sidecar did not take a request within its write deadline");
        if (mine) unsent->why = Unsent::Why::kTimedOut;
      }
      if (mine) return 0;
    }
    return stream_id;
  }

  // A frame of no call's own (a Cancel), sent without holding its caller: when the write gate
  // is not free within kEndGrace the writer holding it sends the frame before letting go.
  void sendControl(std::string frame) {
    {
      std::lock_guard<std::mutex> lock(controls_mu_);
      controls_.push_back(std::move(frame));
    }
    WriteGate::Held held(write_gate_, write_gate_.acquireBy(Clock::now() + kEndGrace));
    if (held.ownsIt()) flushControlsLocked(Clock::now() + kEndGrace);
  }

  static void finishFrame(flatbuffers::FlatBufferBuilder& b, uint64_t sid, w::Body type, flatbuffers::Offset<void> body) {
    w::FrameBuilder fb(b);
    fb.add_stream_id(sid);
    fb.add_body_type(type);
    fb.add_body(body);
    b.FinishSizePrefixed(fb.Finish(), w::FrameIdentifier());
  }

  size_t pending() {
    std::lock_guard<std::mutex> lock(calls_mu_);
    return calls_.size();
  }

 private:
  enum class Write { kDone, kFailed, kTimedOut };

  // The caller holds the write gate. Waits for the socket to take the bytes until `deadline`; a
  // sidecar that stopped reading (stopped, hung) must not hold the caller, nor every other call
  // behind the write lock, for ever.
  Write writeLocked(const uint8_t* p, size_t n, Clock::time_point deadline) {
    while (n) {
      ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k >= 0) {
        p += k;
        n -= static_cast<size_t>(k);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return Write::kFailed;
      if (Clock::now() >= deadline) return Write::kTimedOut;
      pollfd pfd{fd_, POLLOUT, 0};
      if (::poll(&pfd, 1, pollMsUntil(deadline)) < 0 && errno != EINTR) return Write::kFailed;
    }
    return Write::kDone;
  }

  // With the write gate held: the control frames queued while another writer held it. One the
  // sidecar does not take by `deadline` drops the connection (it may be half written).
  void flushControlsLocked(Clock::time_point deadline) {
    for (;;) {
      std::string frame;
      {
        std::lock_guard<std::mutex> lock(controls_mu_);
        if (controls_.empty()) return;
        frame = std::move(controls_.front());
        controls_.pop_front();
      }
      Write w = writeLocked(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), deadline);
      if (w == Write::kTimedOut) drop("the sidecar did not take a Cancel in time");
      if (w != Write::kDone) return;
    }
  }

  // Ends the connection: the reader thread then fails every call still on it, saying why.
  void drop(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(calls_mu_);
      if (lost_reason_.empty()) lost_reason_ = why;
    }
    broken_ = true;
    shutdownSocket();
  }


  // Reads through a buffer, so a frame usually costs one recv. When nothing is there the thread
  // waits in poll for input only: a thread blocked in recv on a Unix socket is also woken each
  // time the server reads what this client sent (the kernel announces the freed write space to
  // every sleeper), a wake-up per request for nothing.
  bool readExact(uint8_t* p, size_t n) {
    while (n) {
      if (in_pos_ == in_len_) {
        if (!fill()) return false;
        continue;
      }
      size_t k = std::min(n, in_len_ - in_pos_);
      std::memcpy(p, in_.get() + in_pos_, k);
      in_pos_ += k;
      p += k;
      n -= k;
    }
    return true;
  }

  // During the handshake the wait ends at read_until_; the reader thread waits with no timeout
  // (a timeout arms a kernel timer on every wait) and the heartbeat thread watches it instead.
  bool fill() {
    if (!in_) in_ = std::make_unique<uint8_t[]>(kReadChunk);
    in_pos_ = in_len_ = 0;
    for (;;) {
      ssize_t k = ::recv(fd_, in_.get(), kReadChunk, MSG_DONTWAIT);
      if (k > 0) {
        in_len_ = static_cast<size_t>(k);
        reads_.store(reads_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // one writer
        return true;
      }
      if (k == 0) break;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) break;
      int wait_ms = -1;
      if (read_until_) {
        if (Clock::now() >= *read_until_) break;
        wait_ms = pollMsUntil(*read_until_);
      }
      pollfd pfd{fd_, POLLIN, 0};
      listening_.store(true, std::memory_order_relaxed);
      int polled = ::poll(&pfd, 1, wait_ms);
      listening_.store(false, std::memory_order_relaxed);
      if (polled < 0 && errno != EINTR) break;
    }
    return false;
  }

  // Reads one frame into 8-byte aligned storage; false on EOF, error or an oversized frame.
  bool readFrame(std::vector<uint64_t>* buf, size_t* size, uint32_t max) {
    uint8_t len_bytes[4];
    if (!readExact(len_bytes, 4)) return false;
    uint32_t len = flatbuffers::ReadScalar<uint32_t>(len_bytes);
    if (len < 8 || len > max) return false;
    buf->resize((size_t(len) + 4 + 7) / 8);  // 64-bit: a max near 4 GiB must not wrap
    auto* bytes = reinterpret_cast<uint8_t*>(buf->data());
    std::memcpy(bytes, len_bytes, 4);
    if (!readExact(bytes + 4, len)) return false;
    *size = size_t(len) + 4;
    flatbuffers::Verifier v(bytes, *size, 64, 1000000);
    if (!w::VerifySizePrefixedFrameBuffer(v)) return false;
    // The verifier passes a union whose type is set and whose table is missing: every reader
    // below takes the body as there, so such a frame is as malformed as one it refuses.
    const w::Frame* f = w::GetSizePrefixedFrame(bytes);
    return f->body_type() == w::Body::NONE || f->body() != nullptr;
  }

  void shutdownSocket() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }


  std::shared_ptr<Call> findCall(uint64_t sid, bool remove) {
    std::lock_guard<std::mutex> lock(calls_mu_);
    auto it = calls_.find(sid);
    if (it == calls_.end()) return nullptr;
    auto c = it->second;
    if (remove) calls_.erase(it);
    return c;
  }

  void readLoop() {
    std::vector<uint64_t> buf;
    size_t size = 0;
    bool malformed = false;
    while (!malformed && readFrame(&buf, &size, max_frame_)) {
      const w::Frame* f = w::GetSizePrefixedFrame(buf.data());
      uint64_t sid = f->stream_id();
      switch (f->body_type()) {
        case w::Body::ResponseStart: {
          auto call = findCall(sid, false);
          const auto* s = f->body_as_ResponseStart();
          if (call && call->events.on_start) {
            call->events.on_start({str(s->model()), str(s->provider()), str(s->trace_id()), s->cache_hit(),
                                   str(s->system_fingerprint()), str(s->service_tier())});
          }
          break;
        }
        case w::Body::ResponseChunk: {
          auto call = findCall(sid, false);
          const auto* c = f->body_as_ResponseChunk();
          if (call) {
            Chunk chunk{c->seq(), str(c->delta()), c->refusal()};
            call->response.content += chunk.delta;
            if (call->events.on_chunk) call->events.on_chunk(chunk);
          }
          break;
        }
        case w::Body::ResponseEnd: {
          const w::ResponseEnd* end = f->body_as_ResponseEnd();
          if (decodedBytes(end) > size * 4 + (64u << 10)) {
            drop("a ResponseEnd that decodes to far more bytes than the frame holds");
            malformed = true;
            break;
          }
          auto call = findCall(sid, true);
          if (call) deliverEnd(*call, end);
          break;
        }
        case w::Body::GoAway: {
          const w::GoAway* g = f->body_as_GoAway();
          auto refused = takeCallsAfter(g ? g->last_stream_id() : UINT64_MAX);
          if (!refused.empty()) refused_(std::move(refused));
          break;
        }
        case w::Body::Error:
          broken_ = true;
          break;
        default:
          break;
      }
    }
    broken_ = true;
    std::unordered_map<uint64_t, std::shared_ptr<Call>> calls;
    std::string why = "connection to the sidecar was lost";
    {
      std::lock_guard<std::mutex> lock(calls_mu_);
      calls.swap(calls_);
      if (!lost_reason_.empty()) why += ": " + lost_reason_;
    }
    for (auto& [sid, call] : calls) {
      call->finish(client_closed_ ? makeError(StatusCode::kCancelled, kClientClosed)
                                  : makeError(StatusCode::kUnavailable, why, true));
    }
  }

  // GoAway: no new call goes on this connection, and the calls past `last_stream_id` leave it in
  // the order they were sent: the sidecar never took them, so they may go out again.
  std::vector<std::shared_ptr<Call>> takeCallsAfter(uint64_t last_stream_id) {
    std::vector<std::pair<uint64_t, std::shared_ptr<Call>>> taken;
    {
      std::lock_guard<std::mutex> lock(calls_mu_);
      going_away_ = true;
      for (auto it = calls_.begin(); it != calls_.end();) {
        if (it->first > last_stream_id) {
          taken.emplace_back(it->first, std::move(it->second));
          it = calls_.erase(it);
        } else {
          ++it;
        }
      }
    }
    std::sort(taken.begin(), taken.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::shared_ptr<Call>> out;
    for (auto& [sid, call] : taken) out.push_back(std::move(call));
    return out;
  }

  // The bytes deliverEnd would copy out of `e`. The verifier checks that every offset stays in
  // the frame, not that the offsets differ: a frame written normally decodes to about its own
  // size, but a hostile one naming one large string from each of many entries would decode to
  // that string times the entries.
  static size_t decodedBytes(const w::ResponseEnd* e) {
    auto len = [](const flatbuffers::String* s) -> size_t { return s ? s->size() : 0; };
    size_t n = len(e->content()) + len(e->message()) + len(e->origin());
    if (const auto* calls = e->tool_calls()) {
      for (const auto* c : *calls) n += 32 + len(c->id()) + len(c->type()) + len(c->name()) + len(c->arguments());
    }
    if (const auto* vs = e->verdicts()) {
      for (const auto* v : *vs) n += 32 + len(v->guardrail()) + len(v->reason());
    }
    return n;
  }

  static std::vector<Verdict> verdictsOf(const w::ResponseEnd* e) {
    std::vector<Verdict> out;
    if (const auto* vs = e->verdicts()) {
      for (const auto* v : *vs) out.push_back({str(v->guardrail()), static_cast<int>(v->verdict()), str(v->reason())});
    }
    return out;
  }

  static void deliverEnd(Call& call, const w::ResponseEnd* e) {
    if (e->status() != w::Status::OK) {
      Error err;
      err.code = static_cast<StatusCode>(e->status());
      err.retryable = e->retryable();
      err.retry_after_ms = e->retry_after_ms();
      err.origin = str(e->origin());
      err.message = str(e->message());
      err.trace_id = str(e->trace_id());
      err.reached_provider = e->reached_provider();
      err.verdicts = verdictsOf(e);
      call.finish(err);
      return;
    }
    Response& r = call.response;
    if (e->content() && e->content()->size()) r.content = e->content()->str();
    r.finish_reason = str(e->finish_reason());
    r.model = str(e->model());
    r.trace_id = str(e->trace_id());
    r.cost_usd = e->cost_usd();
    r.cache_hit = e->cache_hit();
    r.origin = str(e->origin());
    r.message = str(e->message());
    r.refusal = e->refusal();
    r.system_fingerprint = str(e->system_fingerprint());
    r.service_tier = str(e->service_tier());
    if (const auto* u = e->usage()) {
      r.usage = {u->prompt_tokens(), u->completion_tokens(), u->cached_tokens(), u->reasoning_tokens(),
                 u->cache_write_tokens()};
    }
    if (const auto* calls = e->tool_calls()) {
      for (const auto* c : *calls) r.tool_calls.push_back({str(c->id()), str(c->type()), str(c->name()), str(c->arguments())});
    }
    r.verdicts = verdictsOf(e);
    call.finish(r);
  }

  // Nothing is sent to a server whose uid is not trusted: it may be another user's squatter.
  std::optional<Error> verifyServer(const std::string& path, const Client::Options& opt) {
    struct ucred cred {};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return makeError(StatusCode::kPermissionDenied, "cannot read the credentials of the server on " + path);
    }
    std::vector<uid_t> trusted = trustedServerUids(path, opt.expected_server_uid);
    for (uid_t uid : trusted) {
      if (uid == cred.uid) return std::nullopt;
    }
    std::string list;
    for (uid_t uid : trusted) list += (list.empty() ? "" : ", ") + std::to_string(uid);
    return makeError(StatusCode::kPermissionDenied, "the server on " + path + " runs as uid " + std::to_string(cred.uid) +
                                                        ", which is not trusted (trusted: " + list + ")");
  }

  const uint64_t id_;
  const bool verify_;
  const Refused refused_;
  int fd_ = -1;
  uint32_t max_frame_ = 4u << 20;       // the largest frame read: this client's own limit
  uint32_t max_send_frame_ = 4u << 20;  // the largest frame sent: the smaller of both sides'
  WriteGate write_gate_;  // one frame at a time; a writer gives up at its deadline
  std::mutex calls_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Call>> calls_;
  std::string lost_reason_;  // why the connection was dropped here, for the calls it fails
  std::mutex controls_mu_;
  std::deque<std::string> controls_;  // Cancels waiting for the write gate
  std::atomic<bool> broken_{false};
  std::atomic<bool> going_away_{false};
  std::atomic<bool> client_closed_{false};
  std::thread reader_;
  std::atomic<bool> reader_running_{false};
  static inline thread_local const Connection* reading_ = nullptr;  // the connection a reader thread reads
  static constexpr size_t kReadChunk = 64 * 1024;
  std::unique_ptr<uint8_t[]> in_;  // read ahead by the reader thread: bytes [in_pos_, in_len_) unread
  size_t in_pos_ = 0, in_len_ = 0;
  std::chrono::milliseconds write_timeout_{15000};
  std::optional<Clock::time_point> read_until_;  // set during the handshake only
  std::chrono::milliseconds heartbeat_{0};        // the sidecar's, from HelloAck; 0: none
  std::atomic<uint64_t> reads_{0};                // reads that returned bytes
  std::atomic<bool> listening_{false};            // the reader waits on the socket now
  uint64_t reads_at_tick_ = 0, pings_ = 0;        // the heartbeat thread's
  int silent_ticks_ = 0;
};

class Client::Impl {
 public:
  explicit Impl(Options o) : opt_(std::move(o)) {
    ResolvedSocket socket = resolveSocketPath(opt_.socket_path);
    opt_.socket_path = socket.path;
    from_defaults_ = socket.is_default;
    verify_ = opt_.expected_server_uid.has_value() || opt_.verify_server.value_or(socket.is_default);
  }

  ~Impl() {
    {
      // From here no call opens a connection: an on_end that starts the next call as its call
      // ends (CANCELLED, below) gets CANCELLED at once. A handshake under way (a reader thread
      // sending calls a GoAway handed back, or an on_end's call) ends first, and installs nothing.
      std::unique_lock<std::mutex> lock(mu_);
      closing_ = true;
      dialed_.wait(lock, [&] { return inside_ == 0; });
    }
    {
      std::lock_guard<std::mutex> lock(heartbeat_mu_);
      stopping_ = true;
    }
    heartbeat_cv_.notify_all();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
    // Connections are destroyed outside the lock: their reader threads take it to finish calls.
    std::vector<std::shared_ptr<Connection>> doomed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      doomed.swap(retired_);
      if (current_) doomed.push_back(std::move(current_));
    }
    for (const auto& c : doomed) c->closeForClient();
    doomed.clear();
    reapGraveyard();
  }

  // The connection new calls go on; opens one when there is none usable. One handshake runs at a
  // time, outside mu_: a call that finds one under way waits for its outcome until its own limit,
  // connect_timeout from now or `deadline` (the call's) if sooner, rather than queue behind it.
  std::shared_ptr<Connection> connection(std::optional<Error>* err, Clock::time_point deadline = Clock::time_point::max()) {
    reapGraveyard();
    const Clock::time_point limit = std::min(Clock::now() + opt_.connect_timeout, deadline);
    // Retired connections a dial takes out are dropped last, with mu_ released and the handshake
    // over: dropping one waits for its reader, whose last on_end may start a call, which takes
    // mu_ and would wait for this very handshake.
    std::vector<std::shared_ptr<Connection>> retired;
    std::shared_ptr<Connection> c;
    bool dialed = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!c) {
        if (closing_) {
          *err = makeError(StatusCode::kCancelled, kClientClosed);
          break;
        }
        if (current_ && current_->usable()) {
          c = current_;
        } else if (!dialing_) {
          dialed = true;
          c = dial(lock, err, deadline, limit, &retired);
          if (!c) break;
        } else if (auto failed = awaitDial(lock, limit)) {
          *err = std::move(failed);
          break;
        }
      }
    }
    retired.clear();
    if (dialed) {
      leave();
    }
    return c;
  }

  // With mu_ held, which is released for the handshake: opens a connection and makes it current.
  // The idle retired connections it takes out go to *retired, for the caller to drop unlocked.
  std::shared_ptr<Connection> dial(std::unique_lock<std::mutex>& lock, std::optional<Error>* err,
                                   Clock::time_point deadline, Clock::time_point limit,
                                   std::vector<std::shared_ptr<Connection>>* retired) {
    dialing_ = true;
    ++inside_;  // until the caller dropped what it took out (connection())
    *retired = takeIdleRetiredLocked();
    std::shared_ptr<Connection> c(
        new Connection(opened_ + 1, verify_, [this](std::vector<std::shared_ptr<Call>> calls) { resendRefused(std::move(calls)); }),
        [this](Connection* p) { release(p); });
    // The default candidates are looked at again before every connection, as the other SDKs do:
    // a sidecar that starts after the client (on another of them) is still found. An explicit or
    // $OUTRIGGER_SOCKET path stays as it was.
    if (from_defaults_) opt_.socket_path = firstDefaultSocket();
    const std::string path = opt_.socket_path;
    lock.unlock();
    std::optional<Error> failed = c->open(path, opt_, deadline);
    lock.lock();
    if (!failed && closing_) {
      // The client is being destroyed, and waits for this handshake: the connection goes first.
      lock.unlock();
      c->closeForClient();
      c.reset();
      lock.lock();
      failed = makeError(StatusCode::kCancelled, kClientClosed);
    }
    dialing_ = false;
    ++dials_;
    last_dial_ = {failed, failed && limit == deadline && Clock::now() >= limit};
    dialed_.notify_all();
    if (failed) {
      *err = std::move(failed);
      return nullptr;
    }
    ++opened_;  // only a connection that completed its handshake counts as opened
    current_ = c;
    if (c->heartbeat().count() > 0 && !heartbeat_thread_.joinable()) heartbeat_thread_ = std::thread([this] {
      nameThisThread("or-client-beat");
      heartbeatLoop();
    });
    return c;
  }

  // With mu_ held: retires the current connection (no longer usable), and takes the retired ones
  // whose calls are all done out of retired_, for the caller to drop once it released mu_ (their
  // readers may still be delivering a last end, which takes it).
  std::vector<std::shared_ptr<Connection>> takeIdleRetiredLocked() {
    if (current_) retired_.push_back(std::move(current_));
    std::vector<std::shared_ptr<Connection>> idle;
    for (auto it = retired_.begin(); it != retired_.end();) {
      if ((*it)->pending() == 0) {
        idle.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
    return idle;
  }

  // With mu_ held, while another call's handshake is under way: waits for its outcome until
  // `limit`. Returns the error the caller ends with, or none to look again (at the connection it
  // opened, or to open one itself).
  std::optional<Error> awaitDial(std::unique_lock<std::mutex>& lock, Clock::time_point limit) {
    const uint64_t attempt = dials_;
    if (!dialed_.wait_until(lock, limit, [&] { return dials_ != attempt; })) {
      return makeError(StatusCode::kUnavailable,
                       "the sidecar on " + opt_.socket_path + " did not complete the handshake in time (connect_timeout " +
                           std::to_string(opt_.connect_timeout.count()) +
                           " ms, or the call's deadline): another call's handshake was under way",
                       true);
    }
    // A handshake cut short by its own call's deadline, sooner than this one's limit, says nothing
    // of the sidecar within that limit: the caller tries one itself.
    if (last_dial_.error && !last_dial_.cut_short) return last_dial_.error;
    return std::nullopt;
  }

  // The deleter of every connection. Its destructor joins its reader thread, so it must not run
  // on that thread, as it would when a callback drops the last reference (an on_end that starts a
  // call once the connection was lost retires it): such a connection waits in graveyard_ for a
  // thread that may destroy it.
  void release(Connection* c) {
    if (c->destroyableHere()) {
      delete c;
      return;
    }
    std::lock_guard<std::mutex> lock(graveyard_mu_);
    graveyard_.emplace_back(c);
    buried_ = true;
  }

  // Destroys the connections in graveyard_ that this thread may destroy. Called with no lock
  // held: a destructor waits for a reader thread, which may take any of them.
  void reapGraveyard() {
    if (!buried_.load()) return;  // the common case, without the lock
    std::vector<std::unique_ptr<Connection>> doomed;  // destroyed after the lock is released
    std::lock_guard<std::mutex> lock(graveyard_mu_);
    auto keep = std::partition(graveyard_.begin(), graveyard_.end(), [](const auto& c) { return !c->destroyableHere(); });
    doomed.assign(std::make_move_iterator(keep), std::make_move_iterator(graveyard_.end()));
    graveyard_.erase(keep, graveyard_.end());
    buried_ = !graveyard_.empty();
  }

  // One thread per client ticks every connection's heartbeat (see Connection::heartbeatTick),
  // at the interval the current connection's sidecar announced.
  void heartbeatLoop() {
    std::unique_lock<std::mutex> lock(heartbeat_mu_);
    for (;;) {
      std::chrono::milliseconds every{1000};
      {
        std::lock_guard<std::mutex> guard(mu_);
        // Not faster than the daemon's own lower bound, whatever a server announces.
        if (current_ && current_->heartbeat().count() > 0) every = std::max(current_->heartbeat(), kMinHeartbeat);
      }
      if (heartbeat_cv_.wait_for(lock, every, [&] { return stopping_; })) return;
      lock.unlock();
      std::vector<std::shared_ptr<Connection>> connections;
      {
        std::lock_guard<std::mutex> guard(mu_);
        if (current_) connections.push_back(current_);
        connections.insert(connections.end(), retired_.begin(), retired_.end());
      }
      for (auto& c : connections) c->heartbeatTick();
      connections.clear();  // a connection last held here is destroyed outside every lock
      reapGraveyard();
      lock.lock();
    }
  }

  // `timeout`: what is left of the call's own when the frame is built (0: none).
  void buildRequest(flatbuffers::FlatBufferBuilder& b, uint64_t sid, const ChatRequest& r, bool streaming,
                    std::chrono::milliseconds timeout) {
    std::vector<flatbuffers::Offset<w::Message>> msgs;
    for (const Message& m : r.messages) {
      std::vector<flatbuffers::Offset<w::ToolCall>> calls;
      for (const ToolCall& c : m.tool_calls) {
        calls.push_back(w::CreateToolCallDirect(b, c.id.c_str(), c.type.c_str(), c.name.c_str(), c.arguments.c_str()));
      }
      msgs.push_back(w::CreateMessage(b, b.CreateString(m.role), b.CreateString(m.content),
                                      m.name.empty() ? 0 : b.CreateString(m.name),
                                      calls.empty() ? 0 : b.CreateVector(calls),
                                      m.tool_call_id.empty() ? 0 : b.CreateString(m.tool_call_id)));
    }
    auto messages = b.CreateVector(msgs);
    flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> stop;
    if (!r.stop.empty()) stop = b.CreateVectorOfStrings(r.stop);
    auto extra = r.extra_json.empty() ? 0 : b.CreateString(r.extra_json);
    std::vector<flatbuffers::Offset<w::Tool>> tool_defs;
    for (const Tool& t : r.tools) {
      tool_defs.push_back(w::CreateToolDirect(b, "function", t.name.c_str(), t.description.c_str(),
                                              t.parameters_json.empty() ? nullptr : t.parameters_json.c_str()));
    }
    auto tools = tool_defs.empty() ? 0 : b.CreateVector(tool_defs);
    auto tool_choice = r.tool_choice.empty() ? 0 : b.CreateString(r.tool_choice);
    flatbuffers::Offset<w::ResponseFormat> format;
    if (r.response_format) {
      const ResponseFormat& f = *r.response_format;
      format = w::CreateResponseFormatDirect(b, static_cast<w::ResponseFormatType>(f.type),
                                             f.schema_name.empty() ? nullptr : f.schema_name.c_str(),
                                             f.schema_json.empty() ? nullptr : f.schema_json.c_str(), f.strict);
    }
    w::ParamsBuilder pb(b);
    if (r.temperature) pb.add_temperature(*r.temperature);
    if (r.top_p) pb.add_top_p(*r.top_p);
    if (r.max_tokens) pb.add_max_tokens(*r.max_tokens);
    if (r.seed) pb.add_seed(*r.seed);
    if (!stop.IsNull()) pb.add_stop(stop);
    if (!extra.IsNull()) pb.add_extra_json(extra);
    if (!tools.IsNull()) pb.add_tools(tools);
    if (!tool_choice.IsNull()) pb.add_tool_choice(tool_choice);
    if (!format.IsNull()) pb.add_response_format(format);
    auto params = pb.Finish();
    std::optional<Metadata> merged;
    if (r.metadata) merged = mergeMetadata(opt_.default_metadata, *r.metadata);
    const Metadata& md = merged ? *merged : opt_.default_metadata;
    std::vector<flatbuffers::Offset<w::Tag>> tags;
    for (const auto& [k, v] : md.tags) tags.push_back(w::CreateTagDirect(b, k.c_str(), v.c_str()));
    auto meta = w::CreateMetadataDirect(b, md.tenant.c_str(), md.user.c_str(), md.session.c_str(), md.request_id.c_str(),
                                        md.prompt_id.c_str(), md.prompt_version.c_str(), tags.empty() ? nullptr : &tags,
                                        md.traceparent.empty() ? nullptr : md.traceparent.c_str());
    auto cache = w::CreateCacheControl(b, r.cache_bypass, r.cache_no_store, r.cache_ttl_ms);
    auto model = b.CreateString(r.model);
    auto req = w::CreateRequest(b, model, messages, params, streaming, meta,
                                static_cast<uint32_t>(timeout.count()), cache);
    Connection::finishFrame(b, sid, w::Body::Request, req.Union());
  }

  uint64_t start(const ChatRequest& r, CallEvents events, bool streaming) {
    auto call = std::make_shared<Call>();
    call->id = next_call_.fetch_add(1);
    call->events = std::move(events);
    // The call's route (for cancel) is forgotten when it ends, whichever way it ends.
    call->events.on_end = [this, id = call->id, user_end = std::move(call->events.on_end)](const Result<Response>& res) {
      forget(id);
      if (user_end) user_end(res);
    };
    const auto timeout = wireTimeout(r.timeout);
    call->outgoing = std::make_shared<const Outgoing>(Outgoing{r, streaming, timeout, Clock::now() + timeout});
    return sendCall(call) ? call->id : 0;
  }

  // Sends `call` on the current connection (opening one when there is none usable), and once more
  // on a new one should that be found dead while writing. False when it was not sent: it ended.
  bool sendCall(const std::shared_ptr<Call>& call) {
    const Outgoing& out = *call->outgoing;
    std::optional<Error> err;
    // The request must be written by its own deadline, and by the write timeout in any case.
    Clock::time_point write_by = Clock::now() + opt_.write_timeout;
    const bool deadline_bounds = out.timeout.count() > 0 && out.deadline < write_by;
    if (deadline_bounds) write_by = out.deadline;
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto conn = connection(&err, out.timeout.count() > 0 ? out.deadline : Clock::time_point::max());
      if (!conn) break;
      Connection::Unsent unsent;
      bool cancel_now = false;  // the caller cancelled while the call was between connections
      uint64_t sid = conn->send(next_stream_, call, [&](flatbuffers::FlatBufferBuilder& b, uint64_t id) {
        {
          std::lock_guard<std::mutex> lock(routes_mu_);
          Route& route = routes_[call->id];  // before the frame leaves, so that its end finds the route to forget
          route.conn = conn;
          route.stream_id = id;
          cancel_now = route.cancelled;
        }
        // The time the handshake and the write lock took is the call's: the sidecar gets what is
        // left, so it gives up when this client does.
        auto left = std::chrono::milliseconds(0);
        if (out.timeout.count() > 0) {
          left = std::max(std::chrono::milliseconds(1),
                          std::chrono::ceil<std::chrono::milliseconds>(out.deadline - Clock::now()));
        }
        buildRequest(b, id, out.request, out.streaming, left);
      }, write_by, &unsent);
      if (sid != 0) {
        if (cancel_now) sendCancel(*conn, sid);
        return true;
      }
      if (unsent.why == Connection::Unsent::Why::kTooLarge) {
        err = frameTooLarge(unsent.frame_bytes, conn->maxSendFrame());
        break;
      }
      if (unsent.why == Connection::Unsent::Why::kTimedOut) {
        err = deadline_bounds ? makeError(StatusCode::kDeadlineExceeded, "the sidecar did not take the request before its deadline")
                              : makeError(StatusCode::kUnavailable, "the sidecar did not take the request within the write timeout", true);
        break;
      }
      err = makeError(StatusCode::kUnavailable, "connection to the sidecar was lost", true);
    }
    call->finish(*err);
    return false;
  }

  // A connection's GoAway handed back calls its sidecar never took (ids past last_stream_id): each
  // goes out again on another connection, unless its caller cancelled it meanwhile, its deadline
  // passed, or GoAways handed it back kMaxResends times. Runs on the old connection's reader
  // thread, as an on_end that starts a call does.
  void resendRefused(std::vector<std::shared_ptr<Call>> calls) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++inside_;
    }
    struct Leave {
      Impl* self;
      ~Leave() { self->leave(); }
    } leave_when_done{this};
    for (const auto& call : calls) {
      bool cancelled = false;
      {
        std::lock_guard<std::mutex> lock(routes_mu_);
        if (auto it = routes_.find(call->id); it != routes_.end()) {
          cancelled = it->second.cancelled;
          it->second = {{}, 0, cancelled};  // a cancel now waits for the next connection
        }
      }
      if (cancelled) {
        call->finish(makeError(StatusCode::kCancelled, "cancelled by the caller before the sidecar took it"));
      } else if (!call->outgoing || ++call->resends > kMaxResends) {
        call->finish(makeError(StatusCode::kUnavailable, "the sidecar went away without taking the call", true));
      } else if (call->outgoing->timeout.count() > 0 && Clock::now() >= call->outgoing->deadline) {
        call->finish(makeError(StatusCode::kDeadlineExceeded, "the deadline passed before a sidecar took the call"));
      } else {
        sendCall(call);
      }
    }
  }

  // One of the threads counted in inside_ is done.
  void leave() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --inside_;
    }
    dialed_.notify_all();
  }

  void cancel(uint64_t call_id) {
    std::shared_ptr<Connection> conn;
    uint64_t sid = 0;
    {
      std::lock_guard<std::mutex> lock(routes_mu_);
      auto it = routes_.find(call_id);
      if (it == routes_.end()) return;
      it->second.cancelled = true;  // a call between connections ends instead of going out again
      conn = it->second.conn.lock();
      sid = it->second.stream_id;
    }
    if (conn && sid) sendCancel(*conn, sid);
  }

  static void sendCancel(Connection& conn, uint64_t sid) {
    flatbuffers::FlatBufferBuilder b(128);
    auto c = w::CreateCancelDirect(b, "cancelled by caller");
    Connection::finishFrame(b, sid, w::Body::Cancel, c.Union());
    conn.sendControl(std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize()));
  }

  void forget(uint64_t call_id) {
    std::lock_guard<std::mutex> lock(routes_mu_);
    routes_.erase(call_id);
  }

  // The sidecar answers a Feedback at once; the wait is bounded all the same (a sidecar that
  // stopped and announced no heartbeat).
  std::optional<Error> feedback(const std::string& trace_id, double score, const std::string& comment) {
    auto waiter = std::make_shared<EndWaiter>();
    auto call = std::make_shared<Call>();
    call->events.on_end = [waiter](const Result<Response>& r) { waiter->set(r); };
    std::optional<Error> err;
    auto conn = connection(&err);
    if (!conn) return err;
    Connection::Unsent unsent;
    uint64_t sid = conn->send(next_stream_, call, [&](flatbuffers::FlatBufferBuilder& b, uint64_t id) {
      auto fb = w::CreateFeedbackDirect(b, trace_id.c_str(), score, comment.c_str());
      Connection::finishFrame(b, id, w::Body::Feedback, fb.Union());
    }, Clock::now() + opt_.write_timeout, &unsent);
    if (sid == 0 && unsent.why == Connection::Unsent::Why::kTooLarge) return frameTooLarge(unsent.frame_bytes, conn->maxSendFrame());
    if (sid == 0) return makeError(StatusCode::kUnavailable, "connection to the sidecar was lost", true);
    if (!waiter->waitUntil(Clock::now() + opt_.write_timeout)) {
      return makeError(StatusCode::kDeadlineExceeded, "the sidecar did not acknowledge the feedback");
    }
    if (!waiter->out->ok()) return waiter->out->error();
    return std::nullopt;
  }

  // The outcome of the last handshake, for the calls that waited for it.
  struct Dial {
    std::optional<Error> error;
    bool cut_short = false;  // it gave up at its call's deadline, before connect_timeout
  };

  Options opt_;  // socket_path: the one the last connection was opened on
  bool from_defaults_ = false;  // socket_path came from the default candidates
  bool verify_ = false;
  std::mutex mu_;  // current_, retired_, opened_ and the handshake's state below
  std::shared_ptr<Connection> current_;
  std::vector<std::shared_ptr<Connection>> retired_;
  bool dialing_ = false;             // a handshake is under way (outside mu_)
  // Threads the destructor waits for: from a dial's start until the caller dropped what it took
  // out, and reader threads sending calls a GoAway handed back.
  int inside_ = 0;
  bool closing_ = false;             // the client is being destroyed: no call opens a connection
  uint64_t dials_ = 0;               // handshakes ended
  Dial last_dial_;
  std::condition_variable dialed_;   // a handshake ended
  std::mutex graveyard_mu_;
  std::vector<std::unique_ptr<Connection>> graveyard_;  // see release()
  std::atomic<bool> buried_{false};                      // graveyard_ is not empty
  // Where a call's Cancel goes: the connection and stream id it went out on last, which a GoAway
  // can change.
  struct Route {
    std::weak_ptr<Connection> conn;
    uint64_t stream_id = 0;
    bool cancelled = false;
  };
  // A call's id -> its route. Its own lock, taken inside a connection's write lock
  // (Connection::send), so never held while waiting for one.
  std::mutex routes_mu_;
  std::unordered_map<uint64_t, Route> routes_;
  std::atomic<uint64_t> next_stream_{1};
  std::atomic<uint64_t> next_call_{1};
  uint64_t opened_ = 0;
  std::thread heartbeat_thread_;  // started with the first connection that announces a heartbeat
  std::mutex heartbeat_mu_;
  std::condition_variable heartbeat_cv_;
  bool stopping_ = false;
};

// ------------------------------------------------------------------ Stream

struct Stream::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> chunks;
  size_t chunk_bytes = 0;  // the deltas in `chunks`
  std::optional<Result<Response>> result;
  Client::Impl* impl = nullptr;
  std::atomic<uint64_t> sid{0};  // set by the caller's thread, read by the reader's
  std::optional<Clock::time_point> deadline;  // the request's timeout, when it has one

  // Waits with `mu` held until `ready`, or past the deadline (and its grace) cancels the call
  // and ends it here, DEADLINE_EXCEEDED, unless its end came meanwhile.
  template <class Ready>
  void waitFor(std::unique_lock<std::mutex>& lock, Ready ready) {
    if (!deadline) return cv.wait(lock, ready);
    if (cv.wait_until(lock, *deadline + kEndGrace, ready)) return;
    lock.unlock();
    if (uint64_t id = sid.load()) impl->cancel(id);
    lock.lock();
    if (cv.wait_until(lock, Clock::now() + kEndGrace, ready)) return;
    if (!result) result = makeError(StatusCode::kDeadlineExceeded, "no end from the sidecar before the deadline");
    chunks.clear();
  }
};

Stream::Stream(std::shared_ptr<State> s) : state_(std::move(s)) {}
Stream::Stream(Stream&&) noexcept = default;
Stream::~Stream() {
  if (state_) {
    std::unique_lock<std::mutex> lock(state_->mu);
    bool done = state_->result.has_value();
    lock.unlock();
    if (!done) cancel();
  }
}

bool Stream::next(Chunk* chunk) {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.waitFor(lock, [&] { return !s.chunks.empty() || s.result.has_value(); });
  if (s.chunks.empty()) return false;
  *chunk = std::move(s.chunks.front());
  s.chunks.pop_front();
  s.chunk_bytes -= chunk->delta.size() + sizeof(Chunk);
  return true;
}

const Result<Response>& Stream::result() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mu);
  s.waitFor(lock, [&] { return s.result.has_value(); });
  return *s.result;
}

void Stream::cancel() {
  if (uint64_t id = state_->sid.load(); state_->impl && id) state_->impl->cancel(id);
}

// ------------------------------------------------------------------ Client

Client::Client() : Client(Options{}) {}
Client::Client(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

std::optional<Error> Client::connect() {
  std::optional<Error> err;
  impl_->connection(&err);
  return err;
}

uint64_t Client::connectionsOpened() const {
  std::lock_guard<std::mutex> lock(impl_->mu_);
  return impl_->opened_;
}

Result<Response> Client::chat(const ChatRequest& request) {
  auto waiter = std::make_shared<EndWaiter>();
  CallEvents ev;
  ev.on_end = [waiter](const Result<Response>& r) { waiter->set(r); };
  const auto timeout = wireTimeout(request.timeout);
  Clock::time_point deadline = Clock::now() + timeout;
  uint64_t sid = impl_->start(request, std::move(ev), false);
  if (timeout.count() <= 0) {
    waiter->wait();  // the heartbeat ends it should the sidecar hang
    return *waiter->out;
  }
  // The server enforces the deadline; the local wait only guards against a hung sidecar.
  if (!waiter->waitUntil(deadline + kEndGrace)) {
    impl_->cancel(sid);
    if (!waiter->waitUntil(Clock::now() + kEndGrace)) {
      return makeError(StatusCode::kDeadlineExceeded, "no answer from the sidecar before the deadline");
    }
  }
  return *waiter->out;
}

Stream Client::stream(const ChatRequest& request) {
  auto state = std::make_shared<Stream::State>();
  state->impl = impl_.get();
  if (auto timeout = wireTimeout(request.timeout); timeout.count() > 0) state->deadline = Clock::now() + timeout;
  CallEvents ev;
  std::weak_ptr<Stream::State> weak = state;
  const size_t max_bytes = impl_->opt_.max_buffered_stream_bytes;
  ev.on_chunk = [weak, max_bytes](const Chunk& c) {
    auto s = weak.lock();
    if (!s) return;
    std::unique_lock<std::mutex> lock(s->mu);
    if (s->result) return;  // ended here already (deadline, overflow)
    // A chunk is counted with what holding it costs besides its text; one that arrives when
    // nothing waits is always taken, so a stream read as it comes never fails.
    size_t cost = c.delta.size() + sizeof(Chunk);
    if (s->chunk_bytes == 0 || s->chunk_bytes + cost <= max_bytes) {
      s->chunk_bytes += cost;
      s->chunks.push_back(c);
      s->cv.notify_all();
      return;
    }
    // The caller is not reading: its chunks would grow without bound.
    s->result = makeError(StatusCode::kResourceExhausted,
                          "the stream was not read fast enough: " + std::to_string(s->chunk_bytes + cost) +
                              " bytes buffered, more than max_buffered_stream_bytes");
    s->chunks.clear();
    s->chunk_bytes = 0;
    s->cv.notify_all();
    lock.unlock();
    if (uint64_t id = s->sid.load()) s->impl->cancel(id);
  };
  ev.on_end = [weak](const Result<Response>& r) {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!s->result) s->result = r;  // a local end (deadline, overflow) stands
      s->cv.notify_all();
    }
  };
  state->sid = impl_->start(request, std::move(ev), true);
  return Stream(std::move(state));
}

uint64_t Client::start(const ChatRequest& request, CallEvents events, bool streaming) {
  return impl_->start(request, std::move(events), streaming);
}

void Client::cancel(uint64_t call_id) { impl_->cancel(call_id); }

std::optional<Error> Client::feedback(const std::string& trace_id, double score, const std::string& comment) {
  return impl_->feedback(trace_id, score, comment);
}

}  // namespace outrigger::client
