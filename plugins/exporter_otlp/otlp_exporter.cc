// exporter.otlp: finished requests as OpenTelemetry spans, feedback as GenAI evaluation events
// (OTLP log records), and the GenAI client metrics, to an OTLP/HTTP collector in OTLP's protobuf
// encoding (or its JSON one), gzipped unless the collector is on this machine. Runs on the
// exporter thread:
// records are encoded as they arrive and batched; a repeating instance timer seals a batch at
// least every flush_interval_ms, and every POST goes through the host's HTTP client on this
// thread's loop, so nothing here waits on the network. Delivery (delivery.h) retries, backs off
// and spools to disk when the collector is away.
#include <outrigger/plugin.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "delivery.h"
#include "feedback_encoder.h"
#include "genai_metrics.h"
#include "gzip.h"
#include "otlp_json.h"
#include "otlp_proto.h"
#include "otlp_settings.h"
#include "root_span_index.h"
#include "span_encoder.h"

namespace {

using namespace outrigger::plugin;
using namespace outrigger::otlp;

constexpr size_t kMaxResponseBody = 64 * 1024;
constexpr uint64_t kLogEveryNs = 10ull * 1000 * 1000 * 1000;
constexpr size_t kRootSpansKept = 16384;  // 8,192 answers, each by tenant and by none: feedback usually comes soon
// A batch goes once its encoded spans reach this (or a quarter of max_queue_bytes), however few
// they are: captured prompts can make a span weigh megabytes, and collectors cap a request's
// size (the OpenTelemetry Collector at 20 MiB by default).
constexpr size_t kMaxBatchBytes = 4u << 20;

uint64_t wallNowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

const char* pathOf(Signal signal) {
  switch (signal) {
    case Signal::kTraces:
      return "/v1/traces";
    case Signal::kMetrics:
      return "/v1/metrics";
    case Signal::kLogs:
      return "/v1/logs";
  }
  return "/v1/traces";
}

const char* httpErrorName(outrigger_http_error e) {
  static const char* kNames[] = {"ok", "resolve failed", "connect failed", "TLS failed", "connect timeout",
                                 "first byte timeout", "idle timeout", "total timeout", "deadline", "transport error",
                                 "aborted", "cancelled", "internal error"};
  return e >= 0 && e <= 12 ? kNames[e] : "unknown error";
}

// One POST's receiver. Owns itself: it is freed in onComplete, before Delivery hears the
// outcome (which may start the next POST with a new receiver).
class PostHandler final : public HttpHandler {
 public:
  explicit PostHandler(std::function<void(PostOutcome)> done) : done_(std::move(done)) {}

  outrigger_status onHead(const outrigger_http_response_head& head) override {
    for (size_t i = 0; i < head.header_count; ++i) {
      if (iequals(view(head.headers[i].name), "retry-after")) outcome_.retry_after_ms = retryAfterMs(view(head.headers[i].value));
    }
    return OUTRIGGER_OK;
  }
  outrigger_status onBody(std::string_view bytes) override {
    size_t room = kMaxResponseBody - std::min(kMaxResponseBody, outcome_.body.size());
    outcome_.body.append(bytes.substr(0, room));
    return OUTRIGGER_OK;
  }
  void onComplete(const outrigger_http_result& r) override {
    PostOutcome o = std::move(outcome_);
    o.answered = r.error == OUTRIGGER_HTTP_OK;
    o.status = r.status;
    o.cancelled = r.error == OUTRIGGER_HTTP_E_CANCELLED;
    if (!o.answered) o.error = std::string(httpErrorName(r.error)) + (r.message.size ? ": " + std::string(view(r.message)) : "");
    auto done = std::move(done_);
    delete this;
    done(std::move(o));
  }

 private:
  std::function<void(PostOutcome)> done_;
  PostOutcome outcome_;
};

class OtlpExporter final : public Exporter, private DeliveryEnv {
 public:
  static constexpr const char* kName = "otlp";
  static constexpr const char* kDescription =
      "Exports requests as OpenTelemetry GenAI spans and metrics, and feedback as evaluation events, over OTLP/HTTP "
      "(protobuf or JSON), with retries and a disk spool";
  static constexpr const char* kConfigSchema = outrigger::otlp::kConfigSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_EXPERIMENTAL;

  OtlpExporter(Host host, std::string_view name, std::string_view config)
      : Exporter(host, name),
        settings_(parsed(config)),
        delivery_(deliverySettings(settings_, reinterpret_cast<uintptr_t>(this)), this),
        metrics_(wallNowNs()),
        resource_(encodedResource(settings_.encoding, settings_.service_name, settings_.resource_attributes)),
        root_spans_(kRootSpansKept) {
    if (!settings_.spool_path.empty()) checkSpoolPath();
    // Timers, the spool and POSTs belong to the exporter thread's loop, bound after create.
    host.instancePost([this](outrigger_status st) {
      if (st == OUTRIGGER_OK) start();
    });
  }

  ~OtlpExporter() override {
    seal();
    // Right after a reload the old instance may have let the spool go before this one's next
    // flush tick took it: what waits here would otherwise be lost. (Never started, as under
    // `outrigger check`, it leaves the disk alone.)
    if (started_) openSpool();
    delivery_.persist();
    logCounters(true);
  }

  outrigger_status exportRecord(const outrigger_record_view& r) override {
    if (settings_.metrics) metrics_.observe(r);
    uint32_t n = appendRecordSpans(r, settings_.encoding, &pending_);
    if (n == 0) {
      ++unencodable_;
      return OUTRIGGER_OK;
    }
    pending_spans_ += n;
    encoded_ += n;
    // By its tenant, for that tenant's feedback; and by no tenant, for feedback a tenantless
    // sender (the daemon's own user) gives, as the trace store takes it for any tenant's request.
    std::string_view tenant = r.metadata ? view(r.metadata->tenant) : std::string_view();
    root_spans_.remember(RootSpanIndex::keyOf(tenant, view(r.trace_id)), view(r.root_span_id));
    if (!tenant.empty()) root_spans_.remember(RootSpanIndex::keyOf("", view(r.trace_id)), view(r.root_span_id));
    if (pending_spans_ >= settings_.batch_spans || pending_.size() >= batchBytes()) seal();
    return OUTRIGGER_OK;
  }

  // One gen_ai.evaluation.result log record, batched like spans.
  outrigger_status exportFeedback(const outrigger_feedback_view& f) override {
    appendFeedbackLog(f, root_spans_.find(RootSpanIndex::keyOf(f.metadata ? view(f.metadata->tenant) : "", view(f.trace_id))), settings_.encoding, &pending_logs_);
    ++pending_log_records_;
    ++feedback_encoded_;
    if (pending_log_records_ >= settings_.batch_spans) seal();
    return OUTRIGGER_OK;
  }

  // At reload and shutdown: what is waiting goes out now (or to the spool).
  outrigger_status flush() override {
    seal();
    return OUTRIGGER_OK;
  }

 private:
  static OtlpSettings parsed(std::string_view config) {
    OtlpSettings s;
    std::string error;
    if (!parseSettings(config, &s, &error)) throw std::runtime_error(error);
    return s;
  }

  static DeliverySettings deliverySettings(const OtlpSettings& s, uint64_t salt) {
    DeliverySettings d;
    d.max_queue_spans = s.max_queue_spans;
    d.max_queue_bytes = s.max_queue_bytes;
    d.max_in_flight = s.max_in_flight;
    d.max_backoff_ms = s.max_backoff_ms;
    d.initial_backoff_ms = std::min<uint32_t>(250, s.max_backoff_ms);
    d.seed = wallNowNs() ^ salt;
    return d;
  }

  size_t batchBytes() const { return static_cast<size_t>(std::min<uint64_t>(kMaxBatchBytes, settings_.max_queue_bytes / 4)); }

  void checkSpoolPath() const {
    const std::string& p = settings_.spool_path;
    if (p.front() != '/') throw std::runtime_error("spool_path: must be absolute");
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode) || ::access(p.c_str(), W_OK | X_OK) != 0) {
        throw std::runtime_error("spool_path: " + p + " is not a writable directory");
      }
      return;
    }
    std::string parent = p.substr(0, std::max<size_t>(p.rfind('/'), 1));
    if (::access(parent.c_str(), W_OK | X_OK) != 0) {
      throw std::runtime_error("spool_path: cannot create " + p + ": " + std::strerror(errno));
    }
  }

  void start() {
    started_ = true;
    openSpool();
    uint64_t id = 0;
    host().instanceTimer(settings_.flush_interval_ms, settings_.flush_interval_ms, [this](outrigger_status st) {
      if (st == OUTRIGGER_OK) onFlushTick();
    }, &id);
    if (settings_.metrics) {
      host().instanceTimer(settings_.metrics_interval_ms, settings_.metrics_interval_ms, [this](outrigger_status st) {
        if (st == OUTRIGGER_OK) pushMetrics();
      }, &id);
    }
  }

  // The spool directory may still be held by the previous config's instance during a reload:
  // try again on each tick until it is free.
  void openSpool() {
    if (settings_.spool_path.empty() || delivery_.hasSpool()) return;
    Spool::OpenError why = Spool::OpenError::kNone;
    std::string detail;
    auto spool = Spool::open(settings_.spool_path, settings_.spool_max_bytes, &why, &detail);
    if (!spool) {
      if (why != Spool::OpenError::kBusy && !spool_error_logged_) host().log(OUTRIGGER_LOG_ERROR, "spool: " + detail);
      spool_error_logged_ = true;
      return;
    }
    if (!spool->openNotice().empty()) host().log(OUTRIGGER_LOG_WARN, "spool: " + spool->openNotice());
    if (!spool->empty()) {
      host().log(OUTRIGGER_LOG_INFO, "spool holds " + std::to_string(spool->items()) + " spans from before; sending them first");
    }
    delivery_.attachSpool(std::move(spool));
  }

  void onFlushTick() {
    openSpool();
    seal();
    delivery_.poll();
    logCounters(false);
  }

  void seal() {
    if (pending_log_records_ > 0) {
      std::string body = logsRequest(settings_.encoding, resource_, pending_logs_);
      uint32_t n = pending_log_records_;
      pending_logs_.clear();
      pending_log_records_ = 0;
      submit(Signal::kLogs, n, std::move(body));
    }
    if (pending_spans_ == 0) return;
    std::string body = tracesRequest(settings_.encoding, resource_, pending_);
    uint32_t n = pending_spans_;
    pending_.clear();
    pending_spans_ = 0;
    submit(Signal::kTraces, n, std::move(body));
  }

  void pushMetrics() {
    const DeliveryCounters& c = delivery_.counters();
    std::string body = metrics_.request(settings_.encoding, resource_, wallNowNs(),
                                        {{"encoded", encoded_}, {"exported", c.spans.exported}, {"spooled", c.spans.spooled},
                                         {"dropped", c.spans.dropped}, {"rejected", c.spans.rejected}});
    if (!body.empty()) submit(Signal::kMetrics, 0, std::move(body));
  }

  void submit(Signal signal, uint32_t items, std::string body) {
    if (settings_.gzip) {
      std::string packed;
      if (gzip(body, &packed)) body = std::move(packed);
    }
    delivery_.submit(Batch{signal, items, std::move(body), settings_.encoding});
  }

  // Counters to the log: when they changed, at most every 10 s (and at the end).
  void logCounters(bool last) {
    const DeliveryCounters& c = delivery_.counters();
    const ItemCounters& s = c.spans;
    const ItemCounters& f = c.logs;
    uint64_t now = host().nowNs();
    uint64_t dropped = s.dropped + f.dropped, rejected = s.rejected + f.rejected;
    const Spool* sp = delivery_.spool();
    uint64_t damaged = sp ? sp->corrupt() : 0;
    uint64_t sum = s.exported + s.spooled + s.dropped + s.rejected + f.exported + f.spooled + f.dropped + f.rejected +
                   c.retries + c.throttled + c.spool_write_failures + unencodable_ + metrics_.refusedSeries() + damaged;
    if (sum == logged_sum_ || (!last && now - logged_at_ns_ < kLogEveryNs)) return;
    bool lost = dropped > logged_dropped_ || rejected > logged_rejected_ || damaged > logged_damaged_;
    logged_sum_ = sum;
    logged_at_ns_ = now;
    logged_dropped_ = dropped;
    logged_rejected_ = rejected;
    logged_damaged_ = damaged;
    std::string line = "spans exported " + std::to_string(s.exported) + ", rejected " + std::to_string(s.rejected) +
                       ", dropped " + std::to_string(s.dropped) + ", spooled " + std::to_string(s.spooled) + "; queued " +
                       std::to_string(delivery_.queuedSpans() + pending_spans_) + " in memory (" +
                       std::to_string(delivery_.queuedBytes() + pending_.size()) + " bytes), " +
                       std::to_string(sp ? sp->items() : 0) + " in the spool (" + std::to_string(sp ? sp->bytes() : 0) +
                       " bytes); retries " + std::to_string(c.retries) + ", most POSTs in flight " +
                       std::to_string(c.most_in_flight) + ", metrics pushes lost " + std::to_string(c.metrics_failed) +
                       ", records without a trace id " + std::to_string(unencodable_) +
                       ", measurements in the metrics' overflow series " + std::to_string(metrics_.refusedSeries());
    if (c.throttled) line += ", pauses the collector asked for " + std::to_string(c.throttled);
    if (c.spool_write_failures) line += ", spool write failures " + std::to_string(c.spool_write_failures);
    if (damaged) line += ", damaged spool batches skipped " + std::to_string(damaged);
    if (feedback_encoded_) {
      line += "; feedback records exported " + std::to_string(f.exported) + ", rejected " + std::to_string(f.rejected) +
              ", dropped " + std::to_string(f.dropped) + ", spooled " + std::to_string(f.spooled);
    }
    host().log(lost ? OUTRIGGER_LOG_WARN : OUTRIGGER_LOG_INFO, line);
  }

  // DeliveryEnv over the host.
  void packForSpool(std::string* body) override {
    std::string packed;
    if (!gzipped(*body) && gzip(*body, &packed)) *body = std::move(packed);
  }

  static bool gzipped(const std::string& body) {
    // Neither encoding's requests start so: JSON with '{', protobuf with field 1's tag, 0x0a.
    return body.size() >= 2 && uint8_t(body[0]) == 0x1f && uint8_t(body[1]) == 0x8b;
  }

  bool post(const Batch& batch, std::function<void(PostOutcome)> done) override {
    const std::string& body = batch.body;
    std::string url = settings_.endpoint + pathOf(batch.signal);
    std::vector<outrigger_http_header> headers;
    // By the batch, not the setting: the spool may hold batches from a config that chose otherwise.
    headers.push_back({str("Content-Type"), str(contentType(batch.encoding))});
    if (gzipped(body)) headers.push_back({str("Content-Encoding"), str("gzip")});
    for (const auto& [k, v] : settings_.headers) headers.push_back({str(k), str(v)});
    outrigger_http_request req{};
    req.hdr = OUTRIGGER_HEADER_INIT(outrigger_http_request);
    req.method = str("POST");
    req.url = str(url);
    req.headers = headers.data();
    req.header_count = headers.size();
    req.body = str(body);
    req.connect_timeout_ms = std::min<uint32_t>(settings_.timeout_ms, 5000);
    req.first_byte_timeout_ms = settings_.timeout_ms;
    req.idle_timeout_ms = settings_.timeout_ms;
    req.total_timeout_ms = settings_.timeout_ms;
    auto* handler = new PostHandler(std::move(done));
    uint64_t id = 0;
    if (host().instanceHttpRequest(req, handler, &id) != OUTRIGGER_OK) {
      delete handler;
      return false;
    }
    return true;
  }

  bool after(uint32_t delay_ms, std::function<void()> fn) override {
    uint64_t id = 0;
    return host().instanceTimer(delay_ms, 0, [fn = std::move(fn)](outrigger_status st) {
      if (st == OUTRIGGER_OK) fn();
    }, &id) == OUTRIGGER_OK;
  }

  void log(outrigger_log_level level, const std::string& message) override { host().log(level, message); }

  OtlpSettings settings_;
  Delivery delivery_;
  GenAiMetrics metrics_;
  std::string resource_;  // in settings_.encoding
  std::string pending_;  // spans of the batch being filled, in settings_.encoding
  uint32_t pending_spans_ = 0;
  uint64_t encoded_ = 0;      // spans made from records: each ends exported, rejected or dropped
  uint64_t unencodable_ = 0;  // records without a usable trace id: nothing to send
  RootSpanIndex root_spans_;
  std::string pending_logs_;  // log records of the feedback batch being filled
  uint32_t pending_log_records_ = 0;
  uint64_t feedback_encoded_ = 0;
  bool spool_error_logged_ = false;
  bool started_ = false;  // on the exporter thread's loop
  uint64_t logged_sum_ = 0, logged_at_ns_ = 0, logged_dropped_ = 0, logged_rejected_ = 0, logged_damaged_ = 0;
};

}  // namespace

OUTRIGGER_PLUGIN("exporter_otlp", "1.0.0", outrigger::plugin::typeOf<OtlpExporter>())
static_assert(std::string_view("1.0.0") == outrigger::otlp::kPluginVersion, "one version for the library and its scope");
