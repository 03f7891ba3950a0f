/*
 * Outrigger eval scorer plugin ABI, major 1.
 *
 * A scorer plugin is a shared library that `outrigger eval run` loads for a [[scorers]] entry of
 * type "plugin". It exports exactly one symbol, outrigger_scorer_entry_v1, returning its table.
 * Scorers run in the eval CLI, never in the daemon, so this ABI versions on its own; it follows
 * plugin.h's conventions: pure C99, a header {struct_size, abi_major, abi_minor} first in every
 * table, tables that only grow at the tail, no C++ types, no exceptions, no allocator across
 * the boundary. The host refuses a plugin whose major differs, whose minor is newer than the
 * host's, or whose table is smaller than OUTRIGGER_SCORER_MIN_SIZE_PLUGIN, naming each.
 *
 * Threads. Every function pointer carries a tag:
 *   [init]  the thread loading the eval file, before any case is scored, or after the last.
 *   [any]   any runner thread, many at once with the same state: score must be thread-safe.
 *
 * OWNERSHIP. Everything the host passes in is borrowed for the duration of the call. Text a
 * plugin gives back goes through the verdict's set_reason, which copies it during the call; an
 * error from create is written into the caller-owned outrigger_error. The state create returns
 * belongs to the plugin and is given back to destroy, once.
 */
#ifndef OUTRIGGER_SCORER_PLUGIN_H
#define OUTRIGGER_SCORER_PLUGIN_H

#include "outrigger/plugin.h" /* outrigger_str, outrigger_header, outrigger_error, OUTRIGGER_EXPORT */

#define OUTRIGGER_SCORER_ABI_MAJOR 1
#define OUTRIGGER_SCORER_ABI_MINOR 0

#ifdef __cplusplus
extern "C" {
#endif

enum {
  OUTRIGGER_SCORER_OK = 0,    /* the verdict is filled in */
  OUTRIGGER_SCORER_ERROR = -1 /* could not score this case (the reason says why): the case is an
                                 error of the run, not a failure */
};

/* One case, as the host shows it to score. OWNERSHIP: borrowed for the call. */
typedef struct outrigger_scorer_case {
  outrigger_header hdr;
  outrigger_str id;
  outrigger_str case_json;       /* the dataset line as written */
  outrigger_str output;          /* the target's answer */
  outrigger_str expected;        /* the case's expected output, {NULL, 0} when it has none */
  outrigger_str tool_calls_json; /* [{"name", "arguments"}] of the answer */
  double latency_ms;
  double cost_usd;
} outrigger_scorer_case;

/* What score fills in. OWNERSHIP: host-owned; set_reason copies. */
typedef struct outrigger_scorer_verdict {
  outrigger_header hdr;
  double score;     /* 0..1 */
  int32_t pass;     /* nonzero: the case passes this scorer */
  void* host_data;  /* the host's; pass the verdict back as it is */
  /* [any] Why it passed, failed or could not score; the last call wins. */
  void (*set_reason)(struct outrigger_scorer_verdict* verdict, outrigger_str reason) OUTRIGGER_NOEXCEPT;
} outrigger_scorer_verdict;

/* The plugin's table. OWNERSHIP: static in the plugin, valid while the library is loaded. */
typedef struct outrigger_scorer_plugin {
  outrigger_header hdr; /* OUTRIGGER_SCORER_HEADER_INIT(outrigger_scorer_plugin) */
  const char* name;     /* NUL-terminated, for messages */
  const char* version;  /* NUL-terminated */
  /* [init] One scorer from its `config` (the eval file's `config`: a string as written, or a
   * table as JSON text; {NULL, 0} when absent) and `threshold` (< 0 when absent). Returns
   * OUTRIGGER_SCORER_OK and sets *state, or OUTRIGGER_SCORER_ERROR with `error` filled in. */
  int32_t (*create)(outrigger_str config, double threshold, void** state, outrigger_error* error) OUTRIGGER_NOEXCEPT;
  /* [any] Scores one case. */
  int32_t (*score)(void* state, const outrigger_scorer_case* scored, outrigger_scorer_verdict* verdict) OUTRIGGER_NOEXCEPT;
  /* [init] Frees the state. */
  void (*destroy)(void* state) OUTRIGGER_NOEXCEPT;
} outrigger_scorer_plugin;

#define OUTRIGGER_SCORER_HEADER_INIT(type) {(uint32_t)sizeof(type), OUTRIGGER_SCORER_ABI_MAJOR, OUTRIGGER_SCORER_ABI_MINOR}
/* The size of outrigger_scorer_plugin in 1.0, frozen for the major. */
#define OUTRIGGER_SCORER_MIN_SIZE_PLUGIN OUTRIGGER_SIZE_THROUGH(outrigger_scorer_plugin, destroy)

#define OUTRIGGER_SCORER_ENTRY_SYMBOL "outrigger_scorer_entry_v1"

/* The only symbol a scorer plugin exports. Called once per load, on the loading thread. */
OUTRIGGER_EXPORT const outrigger_scorer_plugin* outrigger_scorer_entry_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* OUTRIGGER_SCORER_PLUGIN_H */
