// exporter.jsonl: one JSON object per finished request (spans with their trace and attributes,
// timings, usage, verdicts, the content the route captures) and one per feedback, to a file,
// rotated by size. Runs on the exporter thread; buffers up to `buffer_bytes` and writes
// whole lines with O_APPEND so concurrent instances (during a reload) never interleave lines.
// A file that cannot be opened (a directory removed, a full or read-only mount) is tried again on
// later flushes, backing off; what arrives meanwhile is dropped, and the failures are logged at
// most once a minute.
#include <outrigger/plugin.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "bounded_json.h"

namespace {

using namespace outrigger::plugin;

constexpr uint64_t kMsNs = 1000 * 1000;
constexpr uint64_t kFirstReopenNs = 1000 * kMsNs;  // doubling up to kLastReopenNs
constexpr uint64_t kLastReopenNs = 60 * 1000 * kMsNs;
constexpr uint64_t kLogFailuresEveryNs = 60 * 1000 * kMsNs;

constexpr char kSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {"type": "string", "minLength": 1},
    "max_file_bytes": {"type": "integer", "minimum": 1024, "maximum": 1099511627776, "description": "rotate when the file would grow past this"},
    "max_files": {"type": "integer", "minimum": 1, "maximum": 100000, "description": "rotated files kept: path.1 .. path.N-1"},
    "buffer_bytes": {"type": "integer", "minimum": 0, "maximum": 1073741824, "description": "write when this much is buffered (0: every record)"}
  }
})json";

// One JSON line being written.
struct Line {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};

  void text(outrigger_str v) { w.String(v.data ? v.data : "", static_cast<rapidjson::SizeType>(v.size)); }
  void str(const char* key, outrigger_str v) {
    w.Key(key);
    text(v);
  }
  // Writes the key only when the value is not empty.
  void optional(const char* key, outrigger_str v) {
    if (v.size) str(key, v);
  }

  void metadata(const outrigger_metadata_view& m) {
    w.Key("metadata");
    w.StartObject();
    str("tenant", m.tenant);
    str("user", m.user);
    str("session", m.session);
    str("request_id", m.request_id);
    str("prompt_id", m.prompt_id);
    str("prompt_version", m.prompt_version);
    w.Key("tags");
    w.StartObject();
    for (size_t i = 0; i < m.tag_count; ++i) {
      const auto& t = m.tags[i];
      w.Key(t.key.data ? t.key.data : "", static_cast<rapidjson::SizeType>(t.key.size));
      text(t.value);
    }
    w.EndObject();
    w.EndObject();
  }

  // Spans, with their trace (ids, wall-clock start, attributes) when the host gives it. The
  // trace array's stride is the host's span_trace_size, which a later minor may grow.
  void spans(const outrigger_record_view& r, bool traced) {
    w.Key("spans");
    w.StartArray();
    for (size_t i = 0; i < r.span_count; ++i) {
      const auto& sp = r.spans[i];
      w.StartObject();
      str("stage", sp.stage);
      str("instance", sp.instance);
      w.Key("offset_us"); w.Uint64(sp.start_ns >= r.spans[0].start_ns ? (sp.start_ns - r.spans[0].start_ns) / 1000 : 0);
      w.Key("duration_us"); w.Uint64(sp.duration_ns / 1000);
      str("outcome", sp.outcome);
      if (traced && r.span_traces && r.span_trace_size >= sizeof(outrigger_span_trace_view)) {
        const auto* t = reinterpret_cast<const outrigger_span_trace_view*>(
            reinterpret_cast<const char*>(r.span_traces) + i * r.span_trace_size);
        trace(*t);
      }
      w.EndObject();
    }
    w.EndArray();
  }

  void trace(const outrigger_span_trace_view& t) {
    str("span_id", t.span_id);
    str("parent_span_id", t.parent_span_id);
    w.Key("start_unix_ns"); w.Uint64(t.start_unix_ns);
    w.Key("attributes");
    w.StartObject();
    for (size_t j = 0; j < t.attribute_count; ++j) {
      const auto& a = t.attributes[j];
      w.Key(a.key.data ? a.key.data : "", static_cast<rapidjson::SizeType>(a.key.size));
      text(a.value);
    }
    w.EndObject();
  }

  void toolCalls(const outrigger_tool_call_view* calls, size_t count) {
    w.StartArray();
    for (size_t i = 0; i < count; ++i) {
      w.StartObject();
      str("id", calls[i].id);
      str("type", calls[i].type);
      str("name", calls[i].name);
      optional("arguments", calls[i].arguments);
      w.EndObject();
    }
    w.EndArray();
  }

  // The prompt and answer the route's capture let through; nothing at all for "none".
  void content(const outrigger_record_view& r) {
    w.Key("capture"); w.String(captureName(r.capture));
    if (r.capture == OUTRIGGER_CAPTURE_NONE) return;
    w.Key("prompt");
    w.StartArray();
    for (size_t i = 0; r.prompt && i < r.prompt_count; ++i) {
      const auto& m = r.prompt[i];
      w.StartObject();
      str("role", m.role);
      if (r.capture == OUTRIGGER_CAPTURE_FULL) str("content", m.content);
      optional("name", m.name);
      optional("tool_call_id", m.tool_call_id);
      if (m.tool_call_count) {
        w.Key("tool_calls");
        toolCalls(m.tool_calls, m.tool_call_count);
      }
      w.EndObject();
    }
    w.EndArray();
    if (r.capture == OUTRIGGER_CAPTURE_FULL) str("answer", r.answer);
    if (r.answer_tool_call_count) {
      w.Key("answer_tool_calls");
      toolCalls(r.answer_tool_calls, r.answer_tool_call_count);
    }
  }
};

class JsonlExporter final : public Exporter {
 public:
  static constexpr const char* kName = "jsonl";
  static constexpr const char* kDescription = "Writes one JSON line per finished request and per feedback, rotating files by size";
  static constexpr const char* kConfigSchema = kSchema;
  static constexpr outrigger_stability kStability = OUTRIGGER_STABILITY_BETA;

  JsonlExporter(Host host, std::string_view name, std::string_view config) : Exporter(host, name) {
    rapidjson::Document d;
    if (!outrigger::json::parse(config, &d) || !d.IsObject()) throw std::runtime_error("config is not a JSON object");
    path_ = d["path"].GetString();
    if (d.HasMember("max_file_bytes")) max_file_bytes_ = d["max_file_bytes"].GetUint64();
    if (d.HasMember("max_files")) max_files_ = d["max_files"].GetUint();
    if (d.HasMember("buffer_bytes")) buffer_bytes_ = d["buffer_bytes"].GetUint64();
    // The file is created with the first record (so `outrigger check` and an idle daemon leave
    // nothing behind), but a path that could never be written is a create error now.
    checkWritable();
    // Buffered records reach the file within a second however quiet the daemon is: the timer
    // belongs to the exporter thread's loop, and starts once that thread adopts this instance.
    if (buffer_bytes_ > 0) {
      host.instancePost([this](outrigger_status st) {
        if (st != OUTRIGGER_OK) return;
        uint64_t id = 0;
        (void)this->host().instanceTimer(kFlushEveryMs, kFlushEveryMs, [this](outrigger_status s) {
          if (s == OUTRIGGER_OK) flush();
        }, &id);
      });
    }
  }
  ~JsonlExporter() override {
    flush();
    if (fd_ >= 0) ::close(fd_);
  }

  outrigger_status exportRecord(const outrigger_record_view& r) override {
    Line line;
    auto& w = line.w;
    w.StartObject();
    w.Key("type"); w.String("request");
    line.str("trace_id", r.trace_id);
    line.str("route", r.route);
    line.str("provider", r.provider);
    line.str("model", r.model);
    w.Key("status"); w.String(codeName(r.code));
    line.str("origin", r.origin);
    line.str("message", r.message);
    line.str("finish_reason", r.finish_reason);
    w.Key("stream"); w.Bool(r.stream);
    w.Key("cache_hit"); w.Bool(r.cache_hit);
    w.Key("start_unix_ns"); w.Uint64(r.start_unix_ns);
    w.Key("duration_us"); w.Uint64(r.duration_ns / 1000);
    w.Key("time_to_first_chunk_us"); w.Uint64(r.time_to_first_chunk_ns / 1000);
    w.Key("usage");
    w.StartObject();
    w.Key("prompt_tokens"); w.Uint(r.usage.prompt_tokens);
    w.Key("completion_tokens"); w.Uint(r.usage.completion_tokens);
    w.Key("cached_tokens"); w.Uint(r.usage.cached_tokens);
    w.Key("reasoning_tokens"); w.Uint(r.usage.reasoning_tokens);
    bool priced_tail = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, cost_unpriced);
    if (priced_tail) {
      w.Key("cache_write_tokens"); w.Uint(r.cache_write_tokens);
    }
    w.EndObject();
    w.Key("cost_usd"); w.Double(r.cost_usd);
    if (priced_tail && r.cost_unpriced) {
      w.Key("cost_unpriced"); w.Bool(true);
    }
    if (r.metadata) line.metadata(*r.metadata);
    bool traced = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count);
    if (traced) {
      line.str("root_span_id", r.root_span_id);
      line.str("parent_span_id", r.root_parent_span_id);
    }
    line.spans(r, traced);
    w.Key("verdicts");
    w.StartArray();
    for (size_t i = 0; i < r.verdict_count; ++i) {
      w.StartObject();
      line.str("guardrail", r.verdicts[i].guardrail);
      w.Key("verdict"); w.String(verdictName(r.verdicts[i].verdict));
      line.str("reason", r.verdicts[i].reason);
      w.EndObject();
    }
    w.EndArray();
    if (traced) line.content(r);
    w.EndObject();
    return append(line);
  }

  outrigger_status exportFeedback(const outrigger_feedback_view& f) override {
    Line line;
    auto& w = line.w;
    w.StartObject();
    w.Key("type"); w.String("feedback");
    line.str("trace_id", f.trace_id);
    w.Key("score"); w.Double(f.score);
    line.str("comment", f.comment);
    w.Key("received_unix_ns"); w.Uint64(f.received_unix_ns);
    if (f.metadata) line.metadata(*f.metadata);
    w.EndObject();
    return append(line);
  }

  // What is buffered goes to the file, or is dropped while the file cannot be opened or written:
  // counted in records_lost, and E_INTERNAL.
  outrigger_status flush() override { return writePending(/*counted_by_host=*/0); }

  void reportMetrics(const MetricsWriter& w) override {
    w.counter("jsonl_records_lost_total",
              "Records buffered for the file and dropped because it could not be opened or written", {},
              double(lost_.load(std::memory_order_relaxed)));
  }

 private:
  static constexpr uint32_t kFlushEveryMs = 1000;

  outrigger_status append(const Line& line) {
    pending_.append(line.buf.GetString(), line.buf.GetSize());
    pending_ += '\n';
    ++pending_records_;
    // The host counts the record this call failed for; the others buffered with it count here.
    if (pending_.size() >= buffer_bytes_) return writePending(/*counted_by_host=*/1);
    return OUTRIGGER_OK;
  }

  outrigger_status writePending(uint64_t counted_by_host) {
    if (pending_.empty()) return OUTRIGGER_OK;
    // A file removed or replaced under us (a cleaner, a log shipper's rename) would take the
    // lines for good: the path is opened again.
    if (fd_ >= 0 && host().nowNs() >= next_replaced_check_ns_ && replacedUnderUs()) {
      ::close(fd_);
      fd_ = -1;
      torn_ = false;  // a torn line stays in the file that went
    }
    if (fd_ < 0 && !reopen()) return dropPending(counted_by_host);
    // Checked once the file is open, so one just opened (near the bound since a restart) rotates too.
    if (written_ + pending_.size() > max_file_bytes_ && written_ > 0) {
      rotate();
      if (!reopen()) return dropPending(counted_by_host);
    }
    if (torn_) pending_.insert(pending_.begin(), '\n');  // ends a torn line it could not remove
    const char* p = pending_.data();
    size_t n = pending_.size();
    while (n) {
      ssize_t k = ::write(fd_, p, n);
      if (k < 0) {
        if (errno == EINTR) continue;
        reportFailure("write " + path_ + ": " + std::strerror(errno));
        // A full disk takes part of the buffer first: the torn line goes, or the next line
        // would be appended to it and both be lost.
        if (p != pending_.data()) {
          off_t end = ::lseek(fd_, 0, SEEK_END);  // appended: the torn part is the file's tail
          off_t torn = static_cast<off_t>(p - pending_.data());
          if (end < torn || ::ftruncate(fd_, end - torn) != 0) torn_ = true;
        }
        return dropPending(counted_by_host);
      }
      p += k;
      n -= static_cast<size_t>(k);
    }
    written_ += pending_.size();
    torn_ = false;
    pending_.clear();
    pending_records_ = 0;
    return OUTRIGGER_OK;
  }

  outrigger_status dropPending(uint64_t counted_by_host) {
    lost_.fetch_add(pending_records_ > counted_by_host ? pending_records_ - counted_by_host : 0, std::memory_order_relaxed);
    pending_.clear();
    pending_records_ = 0;
    return OUTRIGGER_E_INTERNAL;
  }

  // At most once a second: two stats per write would cost more than the write.
  bool replacedUnderUs() {
    next_replaced_check_ns_ = host().nowNs() + kReplacedCheckNs;
    struct stat open_file {}, at_path {};
    if (::fstat(fd_, &open_file) != 0) return true;
    if (::stat(path_.c_str(), &at_path) != 0) return true;
    return open_file.st_ino != at_path.st_ino || open_file.st_dev != at_path.st_dev;
  }

  void checkWritable() const {
    if (::access(path_.c_str(), F_OK) == 0) {
      if (::access(path_.c_str(), W_OK) != 0) throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
      return;
    }
    size_t slash = path_.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
    }
  }

  // Opens the file unless the back-off after a failed open still runs. The first open (the
  // first record) and the one right after a rotation are tried at once.
  bool reopen() {
    uint64_t now = host().nowNs();
    if (now < next_open_ns_) return false;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      reportFailure("cannot open " + path_ + ": " + std::strerror(errno) + "; records are dropped until it opens");
      open_backoff_ns_ = open_backoff_ns_ ? std::min(open_backoff_ns_ * 2, kLastReopenNs) : kFirstReopenNs;
      next_open_ns_ = now + open_backoff_ns_;
      return false;
    }
    if (open_backoff_ns_) host().log(OUTRIGGER_LOG_INFO, "writing " + path_ + " again");
    open_backoff_ns_ = 0;
    next_open_ns_ = 0;
    off_t end = ::lseek(fd_, 0, SEEK_END);
    written_ = end > 0 ? static_cast<uint64_t>(end) : 0;
    return true;
  }

  void rotate() {
    ::close(fd_);
    fd_ = -1;
    torn_ = false;
    for (uint32_t i = max_files_ - 1; i >= 1; --i) {
      std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
      std::string to = path_ + "." + std::to_string(i);
      ::rename(from.c_str(), to.c_str());
    }
    if (max_files_ <= 1) ::unlink(path_.c_str());
  }

  // A file that cannot be written fails every flush: the first failure is logged at once, the
  // next ones at most once a minute, with how many went unlogged.
  void reportFailure(std::string what) {
    uint64_t now = host().nowNs();
    if (failure_logged_ns_ && now - failure_logged_ns_ < kLogFailuresEveryNs) {
      ++failures_unlogged_;
      return;
    }
    if (failures_unlogged_) what += " (" + std::to_string(failures_unlogged_) + " more failures since the last report)";
    host().log(OUTRIGGER_LOG_ERROR, what);
    failure_logged_ns_ = now;
    failures_unlogged_ = 0;
  }

  std::string path_;
  uint64_t max_file_bytes_ = 100u << 20;
  uint32_t max_files_ = 5;
  uint64_t buffer_bytes_ = 0;
  int fd_ = -1;  // -1 until the first record, and after a failed open
  bool torn_ = false;  // the file ends in part of a line that could not be removed
  uint64_t next_replaced_check_ns_ = 0;  // when replacedUnderUs() looks again
  static constexpr uint64_t kReplacedCheckNs = 1000000000ull;
  uint64_t next_open_ns_ = 0;     // host clock: no open is tried before
  uint64_t open_backoff_ns_ = 0;  // 0: the last open succeeded
  uint64_t failure_logged_ns_ = 0;
  uint64_t failures_unlogged_ = 0;
  uint64_t written_ = 0;
  std::string pending_;
  uint64_t pending_records_ = 0;
  std::atomic<uint64_t> lost_{0};  // read by /metrics on the main thread
};

}  // namespace

OUTRIGGER_PLUGIN("exporter_jsonl", "1.1.0", outrigger::plugin::typeOf<JsonlExporter>())
