#include "trace_writer.h"

#include <outrigger/plugin.hpp>

#include <rapidjson/writer.h>

#include <algorithm>
#include <limits>
#include <cstdlib>
#include <string_view>

#include "json_buffer.h"
#include "pending_rows.h"

namespace outrigger::traces {
namespace {

using plugin::captureName;
using plugin::codeName;
using plugin::verdictName;

std::string_view text(outrigger_str s) { return {s.data ? s.data : "", s.size}; }

// A JSON value being written into a column.
struct JsonText {
  json::JsonBuffer buf;
  rapidjson::Writer<json::JsonBuffer> w{buf};
  void str(std::string_view v) { w.String(v.data(), static_cast<rapidjson::SizeType>(v.size())); }
  void key(std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
  std::string_view view() const { return buf.view(); }
  // Empties it for the next value, keeping the buffer's memory.
  JsonText& reset() {
    buf.clear();
    w.Reset(buf);
    return *this;
  }
};

// The JSON columns of the row being written: reused, so a row costs no buffer allocations
// before the batch copies them (pending_rows.h).
struct RowJson {
  JsonText tags, verdicts, spans, prompt, calls;
};

void writeToolCalls(JsonText& j, const outrigger_tool_call_view* calls, size_t count) {
  j.w.StartArray();
  for (size_t i = 0; i < count; ++i) {
    j.w.StartObject();
    j.key("id"), j.str(text(calls[i].id));
    j.key("type"), j.str(text(calls[i].type));
    j.key("name"), j.str(text(calls[i].name));
    if (calls[i].arguments.size) j.key("arguments"), j.str(text(calls[i].arguments));
    j.w.EndObject();
  }
  j.w.EndArray();
}

// The prompt as the provider saw it: text only with FULL capture.
void writePrompt(JsonText& j, const outrigger_record_view& r) {
  j.w.StartArray();
  for (size_t i = 0; r.prompt && i < r.prompt_count; ++i) {
    const outrigger_message_view& m = r.prompt[i];
    j.w.StartObject();
    j.key("role"), j.str(text(m.role));
    if (r.capture == OUTRIGGER_CAPTURE_FULL) j.key("content"), j.str(text(m.content));
    if (m.name.size) j.key("name"), j.str(text(m.name));
    if (m.tool_call_id.size) j.key("tool_call_id"), j.str(text(m.tool_call_id));
    if (m.tool_call_count) j.key("tool_calls"), writeToolCalls(j, m.tool_calls, m.tool_call_count);
    j.w.EndObject();
  }
  j.w.EndArray();
}

const outrigger_span_trace_view* traceOf(const outrigger_record_view& r, size_t i, bool traced) {
  if (!traced || !r.span_traces || r.span_trace_size < sizeof(outrigger_span_trace_view)) return nullptr;
  return reinterpret_cast<const outrigger_span_trace_view*>(reinterpret_cast<const char*>(r.span_traces) +
                                                            i * r.span_trace_size);
}

// The stage spans, with their trace (ids, start, attributes) when the host gives it. Compact:
// a span's start is its offset from the request's in nanoseconds, its parent is left out when it
// is the request's own span, empty attributes are left out (the queries put them back).
void writeSpans(JsonText& j, const outrigger_record_view& r, bool traced) {
  uint64_t first_start = r.span_count ? r.spans[0].start_ns : 0;
  std::string_view root = traced ? text(r.root_span_id) : std::string_view();
  j.w.StartArray();
  for (size_t i = 0; i < r.span_count; ++i) {
    const outrigger_span_view& sp = r.spans[i];
    const outrigger_span_trace_view* t = traceOf(r, i, traced);
    // Without a wall-clock start (an older host), a span starts at its offset from the first.
    uint64_t offset = t ? (t->start_unix_ns >= r.start_unix_ns ? t->start_unix_ns - r.start_unix_ns : 0)
                        : (sp.start_ns >= first_start ? sp.start_ns - first_start : 0);
    j.w.StartObject();
    if (t) {
      j.key("id"), j.str(text(t->span_id));
      if (text(t->parent_span_id) != root) j.key("parent"), j.str(text(t->parent_span_id));
    }
    j.key("stage"), j.str(text(sp.stage));
    j.key("instance"), j.str(text(sp.instance));
    j.key("outcome"), j.str(text(sp.outcome));
    j.key("at_ns"), j.w.Uint64(offset);
    j.key("us"), j.w.Uint64(sp.duration_ns / 1000);
    if (t && t->attribute_count) {
      j.key("attrs");
      j.w.StartObject();
      for (size_t a = 0; a < t->attribute_count; ++a) {
        j.key(text(t->attributes[a].key)), j.str(text(t->attributes[a].value));
      }
      j.w.EndObject();
    }
    j.w.EndObject();
  }
  j.w.EndArray();
}

constexpr char kInsertRequest[] =
    "INSERT INTO requests (trace_id, span_id, parent_span_id, start_unix_ns, duration_us, first_chunk_us, route,"
    " provider, model, status, origin, message, finish_reason, stream, cache_hit, tenant, user, session,"
    " request_id, prompt_id, prompt_version, tags, input_tokens, output_tokens, cached_tokens, reasoning_tokens,"
    " cache_write_tokens, cost_usd, cost_unpriced, verdict_flags, verdicts, spans, capture, prompt, answer,"
    " answer_tool_calls, trace_key)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,"
    " ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37)";
constexpr char kInsertFeedback[] =
    "INSERT INTO feedback (trace_id, score, comment, received_unix_ns, tenant, user, session)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

enum : int { kRequestRow, kFeedbackRow };  // which statement a pending row is for

}  // namespace

struct TraceWriter::Statements {
  explicit Statements(sqlite3* db) : request(db, kInsertRequest), feedback(db, kInsertFeedback) {}
  bool ok() const { return request.ok() && feedback.ok(); }
  Statement request, feedback;
};

std::unique_ptr<TraceWriter> TraceWriter::open(const std::string& path, bool content, uint32_t cache_mib,
                                               std::string* error) {
  Database db = openStoreForWriting(path, error);
  if (!db) return nullptr;
  std::string cache = "PRAGMA cache_size = -" + std::to_string(uint64_t{cache_mib} * 1024);
  if (!execute(db.get(), cache.c_str(), error)) return nullptr;
  std::unique_ptr<TraceWriter> writer(new TraceWriter(std::move(db), content));
  if (!writer->statements_->ok()) {
    *error = path + ": " + sqlite3_errmsg(writer->db_.get());
    return nullptr;
  }
  // 1000 pages of 16 KiB: the log is copied into the file about every 16 MiB written.
  if (!writer->checkpointer_.start(writer->db_.get(), path, 1000, error)) return nullptr;
  return writer;
}

TraceWriter::TraceWriter(Database db, bool content)
    : db_(std::move(db)), statements_(std::make_unique<Statements>(db_.get())), content_(content) {}

TraceWriter::~TraceWriter() {
  std::string ignored;
  commit(&ignored);
  checkpointer_.stop();
  statements_.reset();  // finalized before the database closes
}

bool TraceWriter::begin(std::string* error) {
  if (in_transaction_) return true;
  if (!execute(db_.get(), "BEGIN IMMEDIATE", error)) return false;
  in_transaction_ = true;
  return true;
}

// The batch goes in one transaction, begun here: the write lock is held while it is inserted,
// not from its first record on (pending_rows.h).
bool TraceWriter::commit(std::string* error) {
  if (pending_.rows() == 0 && !in_transaction_) return true;
  if (!begin(error)) return losePending(error, "");
  sqlite3* db = db_.get();
  size_t failed_rows = 0;
  bool rolled_back = false;
  std::string insert_error;
  pending_.replay(
      [&](int row) -> Statement& { return row == kRequestRow ? statements_->request : statements_->feedback; },
      [&](Statement& s) {
        if (s.run()) return true;
        if (insert_error.empty()) insert_error = std::string("insert: ") + sqlite3_errmsg(db);
        // Some insert errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) make SQLite roll the whole
        // transaction back: the rows inserted before it in the batch are gone too.
        if (sqlite3_get_autocommit(db)) return !(rolled_back = true);
        ++failed_rows;
        return true;
      });
  if (rolled_back) {
    in_transaction_ = false;
    *error = insert_error;
    return losePending(error, "the transaction was rolled back: ");
  }
  if (!execute(db, "COMMIT", error)) {
    std::string ignored;
    execute(db, "ROLLBACK", &ignored);
    in_transaction_ = false;
    return losePending(error, "");
  }
  in_transaction_ = false;
  pending_.clear(kKeptPendingBytes);
  uncommitted_ = 0;
  resetLogIfLong();
  if (failed_rows == 0) return true;
  lost_.fetch_add(failed_rows, std::memory_order_relaxed);
  *error = insert_error + " (" + std::to_string(failed_rows) + " records lost)";
  return false;
}

// The batch could not be stored: its records were reported written, so they are counted here.
bool TraceWriter::losePending(std::string* error, const char* why) {
  lost_.fetch_add(uncommitted_, std::memory_order_relaxed);
  *error += " (" + std::string(why) + std::to_string(uncommitted_) + " records lost)";
  pending_.clear(kKeptPendingBytes);
  uncommitted_ = 0;
  return false;
}

// A writer that never pauses keeps the log from starting over (checkpointer.h): past the reset
// length it waits here, between transactions, while the checkpointer empties it. In a second's
// wait (the log past 64 MiB, most of it copied already) the exporter thread's queue holds the
// records that arrive meanwhile.
void TraceWriter::resetLogIfLong() {
  if (checkpointer_.logPages() >= log_reset_pages_) checkpointer_.emptyLog(std::chrono::seconds(1));
}

bool TraceWriter::writeRequest(const outrigger_record_view& r, bool content, std::string* error) {
  (void)error;
  bool traced = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count);
  bool priced_tail = r.hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_record_view, cost_unpriced);
  const outrigger_metadata_view* m = r.metadata;

  PendingRows& s = pending_;
  s.begin(kRequestRow);
  static thread_local RowJson row;
  s.text(1, text(r.trace_id));
  s.integer(37, traceKey(text(r.trace_id)));
  s.text(2, traced ? text(r.root_span_id) : std::string_view());
  s.text(3, traced ? text(r.root_parent_span_id) : std::string_view());
  s.integer(4, static_cast<int64_t>(r.start_unix_ns));
  s.integer(5, static_cast<int64_t>(r.duration_ns / 1000));
  s.integer(6, static_cast<int64_t>(r.time_to_first_chunk_ns / 1000));
  s.text(7, text(r.route));
  s.text(8, text(r.provider));
  s.text(9, text(r.model));
  s.text(10, codeName(r.code));
  s.text(11, text(r.origin));
  s.text(12, text(r.message));
  s.text(13, text(r.finish_reason));
  s.integer(14, r.stream);
  s.integer(15, r.cache_hit);
  if (m) {
    s.text(16, text(m->tenant));
    s.text(17, text(m->user));
    s.text(18, text(m->session));
    s.text(19, text(m->request_id));
    s.text(20, text(m->prompt_id));
    s.text(21, text(m->prompt_version));
    JsonText& tags = row.tags.reset();
    tags.w.StartObject();
    for (size_t i = 0; i < m->tag_count; ++i) tags.key(text(m->tags[i].key)), tags.str(text(m->tags[i].value));
    tags.w.EndObject();
    s.text(22, tags.view());
  } else {
    for (int at = 16; at <= 21; ++at) s.text(at, "");
    s.text(22, "{}");
  }
  s.integer(23, r.usage.prompt_tokens);
  s.integer(24, r.usage.completion_tokens);
  s.integer(25, r.usage.cached_tokens);
  s.integer(26, r.usage.reasoning_tokens);
  s.integer(27, priced_tail ? r.cache_write_tokens : 0);
  s.real(28, r.cost_usd);
  s.integer(29, priced_tail ? r.cost_unpriced : 0);
  // Verdicts: a bit per kind a guardrail gave (the verdict filter), and the list.
  int64_t flags = 0;
  JsonText& verdicts = row.verdicts.reset();
  verdicts.w.StartArray();
  for (size_t i = 0; i < r.verdict_count; ++i) {
    const outrigger_verdict_view& v = r.verdicts[i];
    if (v.verdict >= 0 && v.verdict < 32) flags |= int64_t{1} << v.verdict;
    verdicts.w.StartObject();
    verdicts.key("guardrail"), verdicts.str(text(v.guardrail));
    verdicts.key("verdict"), verdicts.str(verdictName(v.verdict));
    verdicts.key("reason"), verdicts.str(text(v.reason));
    verdicts.w.EndObject();
  }
  verdicts.w.EndArray();
  s.integer(30, flags);
  s.text(31, verdicts.view());
  JsonText& spans = row.spans.reset();
  writeSpans(spans, r, traced);
  s.text(32, spans.view());
  int32_t capture = traced && content ? r.capture : OUTRIGGER_CAPTURE_NONE;
  s.text(33, captureName(capture));
  if (capture != OUTRIGGER_CAPTURE_NONE) {
    JsonText& prompt = row.prompt.reset();
    writePrompt(prompt, r);
    s.text(34, prompt.view());
    if (capture == OUTRIGGER_CAPTURE_FULL) s.text(35, text(r.answer));
    if (r.answer_tool_call_count) {
      JsonText& calls = row.calls.reset();
      writeToolCalls(calls, r.answer_tool_calls, r.answer_tool_call_count);
      s.text(36, calls.view());
    }
  }
  s.end();
  ++uncommitted_;
  return true;
}

bool TraceWriter::writeFeedback(const outrigger_feedback_view& f, std::string* error) {
  (void)error;
  // The host gives a feedback to each exporter instance once; instances on one file share this
  // writer, so the second of them finds it written already.
  if (f.received_unix_ns == last_feedback_ns_ && text(f.trace_id) == last_feedback_trace_) return true;
  last_feedback_ns_ = f.received_unix_ns;
  last_feedback_trace_.assign(text(f.trace_id));
  PendingRows& s = pending_;
  s.begin(kFeedbackRow);
  s.text(1, text(f.trace_id));
  s.real(2, f.score);
  s.text(3, text(f.comment));
  s.integer(4, static_cast<int64_t>(f.received_unix_ns));
  s.text(5, f.metadata ? text(f.metadata->tenant) : std::string_view());
  s.text(6, f.metadata ? text(f.metadata->user) : std::string_view());
  s.text(7, f.metadata ? text(f.metadata->session) : std::string_view());
  s.end();
  ++uncommitted_;
  return true;
}

uint64_t TraceWriter::usedBytes() const {
  auto pragma = [&](const char* sql) {
    Statement s(db_.get(), sql);
    return s.ok() && s.step() == SQLITE_ROW ? s.columnInt(0) : 0;
  };
  int64_t pages = pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count");
  return static_cast<uint64_t>(pages > 0 ? pages : 0) * static_cast<uint64_t>(pragma("PRAGMA page_size"));
}

namespace {

bool deleteFeedbackBefore(sqlite3* db, int64_t before_ns, uint64_t* deleted, std::string* error) {
  Statement s(db, "DELETE FROM feedback WHERE received_unix_ns < ?1");
  s.integer(1, before_ns);
  if (!s.ok() || !s.run()) {
    *error = std::string("retention: ") + sqlite3_errmsg(db);
    return false;
  }
  *deleted += static_cast<uint64_t>(sqlite3_changes(db));
  return true;
}

int64_t queryInt(sqlite3* db, const char* sql, int64_t bind, int64_t fallback) {
  Statement s(db, sql);
  if (!s.ok()) return fallback;
  if (sqlite3_bind_parameter_count(s.get()) > 0) s.integer(1, bind);
  if (s.step() != SQLITE_ROW || sqlite3_column_type(s.get(), 0) == SQLITE_NULL) return fallback;
  return s.columnInt(0);
}

}  // namespace

bool TraceWriter::enforce(const Retention& retention, int64_t now_unix_ns, RetentionResult* result,
                          std::string* error, uint64_t max_rows) {
  sqlite3* db = db_.get();
  // Nothing to do is the common case, and it costs two index lookups and two pragmas.
  int64_t cutoff = retention.max_age_ns > 0 ? now_unix_ns - retention.max_age_ns : 0;
  bool too_old = cutoff > 0 && queryInt(db, "SELECT min(start_unix_ns) FROM requests", 0, cutoff) < cutoff;
  bool too_big = retention.max_bytes > 0 && usedBytes() > retention.max_bytes;
  if (!too_old && !too_big &&
      (cutoff == 0 || queryInt(db, "SELECT min(received_unix_ns) FROM feedback", 0, cutoff) >= cutoff)) {
    return true;
  }
  if (!commit(error) || !begin(error)) return false;
  // A delete SQLite rolled back by itself (a full disk) ended the transaction: the next commit
  // must not find one open that is not.
  struct EndedBySqlite {
    bool& open;
    sqlite3* db;
    ~EndedBySqlite() {
      if (open && sqlite3_get_autocommit(db)) open = false;
    }
  } ended_by_sqlite{in_transaction_, db};
  const int64_t chunk = max_rows ? static_cast<int64_t>(max_rows) : 1000;
  const uint64_t deleted_before = result->requests_deleted + result->feedback_deleted;
  auto budget_left = [&] {
    return max_rows == 0 || result->requests_deleted + result->feedback_deleted - deleted_before < max_rows;
  };
  auto failed = [&] {
    *error = std::string("retention: ") + sqlite3_errmsg(db);
    return false;
  };
  // Up to ?2 of the oldest feedback received before ?1.
  Statement feedback_before(db, "DELETE FROM feedback WHERE id IN (SELECT id FROM feedback WHERE received_unix_ns < ?1"
                                " ORDER BY received_unix_ns LIMIT ?2)");
  if (!feedback_before.ok()) return failed();
  auto deleteFeedback = [&](int64_t before, int64_t most, int64_t* deleted) {
    feedback_before.integer(1, before);
    feedback_before.integer(2, most);
    if (!feedback_before.run()) return false;
    *deleted = sqlite3_changes(db);
    result->feedback_deleted += static_cast<uint64_t>(*deleted);
    return true;
  };
  if (cutoff > 0) {
    Statement old(db, "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE start_unix_ns < ?1"
                      " ORDER BY start_unix_ns LIMIT ?2)");
    if (!old.ok()) return failed();
    for (bool more = true; more && budget_left();) {
      old.integer(1, cutoff);
      old.integer(2, chunk);
      if (!old.run()) return failed();
      int64_t n = sqlite3_changes(db);
      result->requests_deleted += static_cast<uint64_t>(n);
      more = n == chunk;
    }
    int64_t n = 0;
    if (!deleteFeedback(cutoff, chunk, &n)) return failed();
  }
  // Size: the oldest rows go, requests or feedback, whichever is older, a chunk at a time, until
  // the live pages fit 90% of the bound (so the next check does not start again at once), or
  // this call's share of the work is done. Feedback is rows a caller sends at will: taken as
  // older than every request, it emptied the store of requests before any of it went.
  Statement oldest(db, "DELETE FROM requests WHERE id IN (SELECT id FROM requests ORDER BY id LIMIT ?1)");
  if (!oldest.ok()) return failed();
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  double target = 0.9 * static_cast<double>(retention.max_bytes);
  for (double used; retention.max_bytes > 0 && budget_left() && (used = static_cast<double>(usedBytes())) > target;) {
    // As many of the oldest as the excess holds at the store's average row size (row ids count
    // the rows closely enough, and cost two index lookups where count(*) reads them all).
    int64_t request_rows = queryInt(db, "SELECT max(id) - min(id) + 1 FROM requests", 0, 0);
    int64_t feedback_rows = queryInt(db, "SELECT max(id) - min(id) + 1 FROM feedback", 0, 0);
    if (request_rows <= 0 && feedback_rows <= 0) break;
    double excess = (used - target) / (used / static_cast<double>(std::max<int64_t>(request_rows, 0) +
                                                                  std::max<int64_t>(feedback_rows, 0)));
    int64_t n_wanted = std::clamp<int64_t>(static_cast<int64_t>(excess) + 1, 1, chunk);
    int64_t first_request = queryInt(db, "SELECT min(start_unix_ns) FROM requests", 0, kNone);
    int64_t first_feedback = queryInt(db, "SELECT min(received_unix_ns) FROM feedback", 0, kNone);
    int64_t n = 0;
    if (first_feedback < first_request || first_request == kNone) {
      // Feedback older than every request: up to n_wanted of it, none newer than that request.
      if (!deleteFeedback(first_request, n_wanted, &n)) return failed();
      if (n == 0) break;
      continue;
    }
    oldest.integer(1, n_wanted);
    if (!oldest.run()) return failed();
    n = sqlite3_changes(db);
    if (n == 0) break;
    result->requests_deleted += static_cast<uint64_t>(n);
    // Feedback older than the oldest request kept goes with them; with none kept, the loop
    // weighs what feedback is left on its own.
    int64_t first_kept = queryInt(db, "SELECT min(start_unix_ns) FROM requests", 0, kNone);
    if (first_kept != kNone && !deleteFeedbackBefore(db, first_kept, &result->feedback_deleted, error)) return false;
  }
  if (!commit(error)) return false;
  // New rows reuse freed pages, so at its bound the file stops growing by itself. Pages go back
  // to the file system only when a quarter of the file is free (a lowered bound, a quiet spell
  // past the age limit): moving pages is the most expensive thing retention does, so it is not
  // done on every run.
  int64_t pages = queryInt(db, "PRAGMA page_count", 0, 0);
  int64_t free_pages = queryInt(db, "PRAGMA freelist_count", 0, 0);
  if (free_pages * 4 < pages) return true;
  std::string vacuum = max_rows ? "PRAGMA incremental_vacuum(" + std::to_string(max_rows / 4 + 64) + ")"
                                : std::string("PRAGMA incremental_vacuum");
  return execute(db, vacuum.c_str(), error);
}

}  // namespace outrigger::traces
