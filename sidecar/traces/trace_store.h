// The local trace store: one SQLite file (WAL) that exporter.sqlite writes and `outrigger traces`
// and the admin server's /traces endpoints read.
//
//   requests  one row per finished request: ids, route, provider, model, status, timings, usage,
//             cost, metadata; its stage spans (with trace ids and attributes) and guardrail
//             verdicts as JSON arrays; the prompt and answer when the route captured them
//   feedback  scores sent for earlier answers, joined to requests by trace_id
//   spans, attempts, verdicts
//             views that unfold those arrays into rows (one per span, per provider attempt, per
//             guardrail) for anyone querying the file with SQL
//
// One row per request is one insert and two index updates on the exporter thread; rows per
// span cost several times that at the rates a sidecar serves. A trace id may cover several
// requests (a caller's traceparent shared by several calls, or a plugin's model call through the
// host), so a request is keyed by its rowid, not by it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "traces/sqlite_statement.h"

namespace outrigger::traces {

// The schema's version, kept in `PRAGMA user_version`. A store written by a newer version is
// refused rather than misread.
constexpr int kSchemaVersion = 1;
// How long a connection waits for another's lock (a second writer, a checkpoint) before failing.
constexpr int kBusyTimeoutMs = 2000;

// Opens the store at `path` for writing, creating the file and its directory (0750) when
// missing: WAL, incremental auto-vacuum (so retention can give space back), tables, indexes.
Database openStoreForWriting(const std::string& path, std::string* error);
// Opens an existing store read-only for queries; an error when the file is missing or is not a
// trace store this version can read.
Database openStoreForReading(const std::string& path, std::string* error);

// The indexed stand-in for a trace id: a 64-bit hash (FNV-1a). Trace ids are random, so an index
// on them is written all over; one on 8-byte keys stays small enough to sit in the page cache.
// Lookups compare the trace id too.
int64_t traceKey(std::string_view trace_id);

// Where the store lives when the config does not say: $XDG_STATE_HOME/outrigger/traces.db, else
// $HOME/.local/state/outrigger/traces.db, else an empty string (no place to keep it).
std::string defaultStorePath();

}  // namespace outrigger::traces
