/*
 * Outrigger plugin ABI, major 1.
 *
 * A plugin is a shared library that exports exactly one symbol, outrigger_plugin_entry_v1,
 * returning a table that lists the plugin types the library provides. The host passes each
 * instance a table of host functions (outrigger_host_api). Nothing else crosses the boundary:
 * no C++ types, no exceptions, no allocator. Pure C99, standard headers only.
 *
 * Versioning. Every table starts with outrigger_header {struct_size, abi_major, abi_minor}.
 * Tables only grow at the tail; a slot past the other side's struct_size is absent, so read
 * tail slots with OUTRIGGER_HAS_SLOT. The host refuses a plugin whose major differs or whose
 * minor is newer than the host's, naming both versions.
 *
 * Each struct a plugin passes to the host has an OUTRIGGER_MIN_SIZE_* next to it: its size in
 * the minor that introduced it (1.0 for most, 1.1 for HTTP and embeddings), frozen for the
 * whole major. The host accepts any struct_size at least that large, refuses a smaller one, and
 * never reads past struct_size: a slot the plugin's minor lacks reads as zero. So a slot added
 * at a tail must give zero (or NULL) the meaning "not set". Structs the host passes to a plugin
 * are always the host's full size, and the host is never older than the plugin, so a plugin
 * reads the prefix its header knows; slots of the host table added after 1.0 still go behind
 * OUTRIGGER_HAS_SLOT, because a minor may gain slots after its first release (1.1's
 * embeddings_done came after its HTTP slots).
 *
 * Threads. Every function pointer carries a tag:
 *   [init]  main thread, while loading or creating; never on the request path.
 *   [loop]  the worker thread that owns the request. Host calls with a request handle check
 *           this and return OUTRIGGER_E_WRONG_THREAD when called from elsewhere.
 *   [any]   any thread.
 *   [instance loop] (minor 2) the loop an instance belongs to (instance_post): its worker's for a
 *           per-worker instance, the exporter thread's for an exporter.
 *   [export] the exporter thread.
 *
 * Async. Hooks return OUTRIGGER_CONTINUE (done, go on), OUTRIGGER_PENDING (the plugin will
 * call the hook's *_done function exactly once, possibly before the hook returns) or
 * OUTRIGGER_STOP (a guardrail denies). A negative value is a failure of the stage; the
 * instance's on_error policy decides whether the request fails or the stage is skipped. A hook
 * whose *_done ran before it returned must return PENDING; any other return is then ignored
 * (and logged): the completion stands.
 *
 * OWNERSHIP. Views passed into a hook are borrowed from the host. Each stays valid until the
 * hook decides (it returns, or completes the PENDING answer it gave), so a pending hook may read
 * what it was given; a chunk view only during on_chunk. The request view itself stays valid until
 * the request ends (its end frame is sent, or its cancel hook has returned), but a rewrite or a
 * re-ask replaces the messages it points to: copy what you keep across steps. Anything a
 * plugin passes to the host is copied during the call. Nothing is freed across the boundary.
 */
#ifndef OUTRIGGER_PLUGIN_H
#define OUTRIGGER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define OUTRIGGER_ABI_MAJOR 1
#define OUTRIGGER_ABI_MINOR 2

#if defined(__GNUC__)
#define OUTRIGGER_EXPORT __attribute__((visibility("default")))
#else
#define OUTRIGGER_EXPORT
#endif

#ifdef __cplusplus
#define OUTRIGGER_NOEXCEPT noexcept
extern "C" {
#else
#define OUTRIGGER_NOEXCEPT
#endif

/* ------------------------------------------------------------------ basic types */

typedef int32_t outrigger_status;
enum {
  OUTRIGGER_OK = 0,
  OUTRIGGER_CONTINUE = 0,
  OUTRIGGER_PENDING = 1,
  OUTRIGGER_STOP = 2,
  OUTRIGGER_PAUSE = 3,            /* provider_chunk: accepted, stop producing until resume */
  OUTRIGGER_HOLD = 4,             /* minor 2, on_chunk: keep this chunk back with what is held */
  OUTRIGGER_RELEASE = 5,          /* minor 2, on_chunk/on_stream_end: emit what is held (or its replacement) */
  OUTRIGGER_E_INVALID = -1,       /* bad argument, or a completion called twice */
  OUTRIGGER_E_NOMEM = -2,
  OUTRIGGER_E_WRONG_THREAD = -3,
  OUTRIGGER_E_STALE = -4,         /* the request already ended: late completion, no effect */
  OUTRIGGER_E_UNSUPPORTED = -5,
  OUTRIGGER_E_PLUGIN_EXCEPTION = -6,
  OUTRIGGER_E_INTERNAL = -7
};

/* Wire status codes (the gRPC set) used in responses and verdicts. */
typedef int32_t outrigger_code;
enum {
  OUTRIGGER_CODE_OK = 0,
  OUTRIGGER_CODE_CANCELLED = 1,
  OUTRIGGER_CODE_UNKNOWN = 2,
  OUTRIGGER_CODE_INVALID_ARGUMENT = 3,
  OUTRIGGER_CODE_DEADLINE_EXCEEDED = 4,
  OUTRIGGER_CODE_NOT_FOUND = 5,
  OUTRIGGER_CODE_PERMISSION_DENIED = 7,
  OUTRIGGER_CODE_RESOURCE_EXHAUSTED = 8,
  OUTRIGGER_CODE_FAILED_PRECONDITION = 9,
  OUTRIGGER_CODE_UNIMPLEMENTED = 12,
  OUTRIGGER_CODE_INTERNAL = 13,
  OUTRIGGER_CODE_UNAVAILABLE = 14,
  OUTRIGGER_CODE_UNAUTHENTICATED = 16
};

typedef int32_t outrigger_kind;
enum {
  OUTRIGGER_KIND_PROVIDER = 1,
  OUTRIGGER_KIND_GUARDRAIL = 2,
  OUTRIGGER_KIND_CACHE = 3,
  OUTRIGGER_KIND_EXPORTER = 4,
  OUTRIGGER_KIND_LIMITER = 5      /* minor 2: admits requests and settles what they used */
};

typedef int32_t outrigger_stability;
enum {
  OUTRIGGER_STABILITY_EXPERIMENTAL = 0,
  OUTRIGGER_STABILITY_BETA = 1,
  OUTRIGGER_STABILITY_STABLE = 2
};

typedef int32_t outrigger_log_level;
enum {
  OUTRIGGER_LOG_DEBUG = 0,
  OUTRIGGER_LOG_INFO = 1,
  OUTRIGGER_LOG_WARN = 2,
  OUTRIGGER_LOG_ERROR = 3
};

/* Capability bits of a plugin type. */
#define OUTRIGGER_CAP_SHARED_INSTANCE ((uint64_t)1 << 0) /* one instance for all workers; thread-safe */
#define OUTRIGGER_CAP_STREAMING ((uint64_t)1 << 1)       /* provider emits chunks */
#define OUTRIGGER_CAP_EMBED_TOKEN_IDS ((uint64_t)1 << 2) /* minor 2: provider embed takes inputs of
                                                            token ids (OUTRIGGER_EMBED_TOKEN_IDS) */

/* A borrowed byte string. Not NUL-terminated. {NULL, 0} is the empty string. */
typedef struct outrigger_str {
  const char* data;
  size_t size;
} outrigger_str;

/* Opaque request handle: {slot, generation}. Never a pointer; a handle whose request ended
 * is stale and every host call with it returns OUTRIGGER_E_STALE. */
typedef struct outrigger_request {
  uint32_t slot;
  uint32_t generation;
} outrigger_request;

typedef struct outrigger_header {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;
} outrigger_header;

#define OUTRIGGER_HEADER_INIT(type) {(uint32_t)sizeof(type), OUTRIGGER_ABI_MAJOR, OUTRIGGER_ABI_MINOR}

/* True when table pointer `t` (whose first member is `hdr`) is large enough to hold `field`
 * and the slot is set. */
#define OUTRIGGER_HAS_SLOT(t, type, field) \
  ((t)->hdr.struct_size >= offsetof(type, field) + sizeof((t)->field) && (t)->field)

/* Bytes of `type` up to the end of `field`: the size of the struct in a minor whose last member
 * was `field`. The OUTRIGGER_MIN_SIZE_* values are written with it so they stay frozen when a
 * later minor appends members. */
#define OUTRIGGER_SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type*)0)->field))

/* Error details from [init] calls. Caller-owned; the plugin writes at most sizeof(message). */
typedef struct outrigger_error {
  char message[512];
} outrigger_error;

/* ------------------------------------------------------------------ request views */

typedef struct outrigger_tool_call_view {
  outrigger_str id;
  outrigger_str type;
  outrigger_str name;
  outrigger_str arguments; /* JSON text */
} outrigger_tool_call_view;

typedef struct outrigger_message_view {
  outrigger_str role;
  outrigger_str content;
  outrigger_str name;
  outrigger_str tool_call_id;
  const outrigger_tool_call_view* tool_calls;
  size_t tool_call_count;
} outrigger_message_view;

typedef struct outrigger_tool_view {
  outrigger_str type;
  outrigger_str name;
  outrigger_str description;
  outrigger_str parameters_json;
} outrigger_tool_view;

typedef struct outrigger_tag_view {
  outrigger_str key;
  outrigger_str value;
} outrigger_tag_view;

/* Bits of outrigger_params_view.present: which optional scalars the caller set. */
#define OUTRIGGER_PARAM_TEMPERATURE (1u << 0)
#define OUTRIGGER_PARAM_TOP_P (1u << 1)
#define OUTRIGGER_PARAM_MAX_TOKENS (1u << 2)
#define OUTRIGGER_PARAM_SEED (1u << 3)

typedef int32_t outrigger_response_format;
enum {
  OUTRIGGER_FORMAT_TEXT = 0,
  OUTRIGGER_FORMAT_JSON_OBJECT = 1,
  OUTRIGGER_FORMAT_JSON_SCHEMA = 2
};

typedef struct outrigger_params_view {
  uint32_t present;
  float temperature;
  float top_p;
  uint32_t max_tokens;
  int64_t seed;
  const outrigger_str* stop;
  size_t stop_count;
  const outrigger_tool_view* tools;
  size_t tool_count;
  outrigger_str tool_choice;        /* "auto" | "none" | "required" | the name of the one tool to call |
                                       {"type":"function","function":{"name":...}} (JSON: how a tool
                                       named like a mode travels) */
  outrigger_response_format response_format;
  uint8_t response_schema_strict;
  outrigger_str response_schema_name;
  outrigger_str response_schema_json;
  outrigger_str extra_json; /* provider-specific fields, a JSON object or empty */
} outrigger_params_view;

typedef struct outrigger_metadata_view {
  outrigger_str tenant;
  outrigger_str user;
  outrigger_str session;
  outrigger_str request_id;
  outrigger_str prompt_id;
  outrigger_str prompt_version;
  const outrigger_tag_view* tags;
  size_t tag_count;
  outrigger_str traceparent;
} outrigger_metadata_view;

typedef struct outrigger_request_view {
  outrigger_header hdr;
  outrigger_request handle;
  outrigger_str route;           /* the route this request runs on */
  outrigger_str model;           /* the model the provider should call (route's, or caller's) */
  const outrigger_message_view* messages;
  size_t message_count;
  const outrigger_params_view* params;
  const outrigger_metadata_view* metadata;
  uint64_t deadline_ns;          /* absolute, on the host's monotonic clock (now_ns) */
  uint8_t stream;                /* the caller wants chunks */
  uint8_t cache_bypass;
  uint8_t cache_no_store;
  uint8_t reserved_;
  uint32_t cache_ttl_ms;         /* 0: the cache's default */
  outrigger_str trace_id;
} outrigger_request_view;

/* ------------------------------------------------------------------ response views */

/* Token counts as OpenAI reports them: prompt_tokens is every input token, cache reads
 * included (Anthropic's input_tokens + cache_read + cache_creation); cached_tokens (read from
 * the prompt cache) is a subset of prompt_tokens, reasoning_tokens a subset of
 * completion_tokens. Embedded in other structs, so it never grows: the tokens written to the
 * prompt cache are outrigger_response_view.cache_write_tokens. */
typedef struct outrigger_usage {
  uint32_t prompt_tokens;
  uint32_t completion_tokens;
  uint32_t cached_tokens;
  uint32_t reasoning_tokens;
} outrigger_usage;

/* A whole answer (provider_done, cache_done, on_response) or a failure. */
typedef struct outrigger_response_view {
  outrigger_header hdr;
  outrigger_code code;             /* OUTRIGGER_CODE_OK or the failure */
  uint8_t retryable;
  uint8_t reserved_[3];
  uint32_t retry_after_ms;
  outrigger_str message;           /* failure description */
  outrigger_str content;           /* the text; when the provider streamed, the host fills it */
  outrigger_str finish_reason;
  const outrigger_tool_call_view* tool_calls;
  size_t tool_call_count;
  outrigger_usage usage;
  double cost_usd;                 /* USD; 0: the host prices `usage` from its price table */
  outrigger_str model;             /* the model that answered */

  /* ---- minor 2, later builds: what outrigger_usage (embedded elsewhere, so frozen) cannot
   * hold. A host of an earlier 1.2 build ignores it; a view the host passes carries it when
   * hdr.struct_size >= OUTRIGGER_SIZE_THROUGH(outrigger_response_view, cache_write_tokens). */
  uint32_t cache_write_tokens;     /* prompt tokens written to the provider's prompt cache: a
                                      subset of usage.prompt_tokens, like cached_tokens (the
                                      ones read from it); 0: none, or not reported */
  uint32_t reserved2_;
  /* ---- minor 2, later builds still: present when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_response_view, response_id). */
  outrigger_str response_id;       /* the upstream's id of the answer (chatcmpl-..., msg_...),
                                      recorded as gen_ai.response.id; empty: none */
  /* ---- minor 2, later builds still: present when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_response_view, service_tier). */
  uint32_t flags;                  /* OUTRIGGER_ANSWER_* */
  uint32_t reserved3_;
  outrigger_str system_fingerprint; /* the upstream's backend configuration id; empty: none */
  outrigger_str service_tier;      /* the tier the upstream served the answer on ("default",
                                      "priority", "standard" ...); empty: not reported */
  /* ---- minor 2, later builds still: present when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_response_view, error_code). A failure's own words from the
   * upstream, which the HTTP front passes on in its error body so that code written against
   * the provider's API still recognises the failure: */
  outrigger_str error_type;        /* e.g. "invalid_request_error", "overloaded_error"; empty: none */
  outrigger_str error_code;        /* e.g. "context_length_exceeded", "insufficient_quota"; empty: none */
} outrigger_response_view;

/* outrigger_response_view.flags and outrigger_chunk_view.flags. */
#define OUTRIGGER_ANSWER_REFUSAL (1u << 0) /* the text is the model's refusal (OpenAI's
                                              message.refusal, Anthropic's stop_reason refusal),
                                              not an answer to parse */
/* Smallest response view a plugin may pass (provider_done, cache_done): the 1.0 layout. */
#define OUTRIGGER_MIN_SIZE_RESPONSE_VIEW OUTRIGGER_SIZE_THROUGH(outrigger_response_view, model)

typedef struct outrigger_tool_call_delta_view {
  uint32_t index; /* which call of the answer this adds to, from 0; at least 1024 is refused (E_INVALID) */
  outrigger_str id;
  outrigger_str type;
  outrigger_str name;
  outrigger_str arguments;
} outrigger_tool_call_delta_view;

typedef struct outrigger_chunk_view {
  outrigger_header hdr;
  outrigger_str delta;
  const outrigger_tool_call_delta_view* tool_calls;
  size_t tool_call_count;
  /* ---- minor 2, later builds: present when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_chunk_view, service_tier). What the upstream said about the
   * answer as it began: a provider may set them on every chunk; the host keeps the first it
   * gets of each, so a streamed answer's start already names the upstream's model. */
  uint32_t flags;                  /* OUTRIGGER_ANSWER_REFUSAL: `delta` is refusal text */
  /* The prompt's tokens as the upstream reported them when the stream began (Anthropic's
   * message_start), counted as in outrigger_usage; 0: not known yet. */
  uint32_t prompt_tokens;          /* every input token, the prompt cache's included */
  uint32_t cached_tokens;          /* of which read from the prompt cache */
  uint32_t cache_write_tokens;     /* of which written to it */
  outrigger_str model;             /* the model answering, as the upstream names it */
  outrigger_str system_fingerprint;
  outrigger_str service_tier;
} outrigger_chunk_view;
/* Smallest chunk view a plugin may pass (provider_chunk): the 1.0 layout. */
#define OUTRIGGER_MIN_SIZE_CHUNK_VIEW OUTRIGGER_SIZE_THROUGH(outrigger_chunk_view, tool_call_count)

/* Guardrail verdicts, as on the wire. */
typedef int32_t outrigger_verdict;
enum {
  OUTRIGGER_VERDICT_PASS = 0,
  OUTRIGGER_VERDICT_FLAG = 1,
  OUTRIGGER_VERDICT_DENY = 2,
  OUTRIGGER_VERDICT_REWRITE = 3   /* minor 2: the hook changed the request or the answer (action) */
};

/* Minor 2. What a guardrail changes or asks for, alongside its verdict. OWNERSHIP: the
 * plugin's; everything it points to must stay valid until the hook (or the completion call)
 * returns: the host copies it then.
 *   on_request, verdict REWRITE: `messages` replace the request's messages. The provider, every
 *     later step, the record and the cache key see the new ones.
 *   on_response, verdict REWRITE: `content` (when replace_content) and `tool_calls` (when
 *     replace_tool_calls) replace the answer's. A streamed answer's chunks already went out:
 *     hold them back (on_chunk) to change what a streaming client sees.
 *   on_response, `reask` set: the answer is not accepted; the host calls the provider again
 *     with the conversation, the answer as an assistant message, then `messages` (a repair
 *     prompt). At most the route's max_reasks times; then the answer is denied. Not for a
 *     streamed answer whose chunks went out (that is a deny).
 *   on_chunk / on_stream_end, RELEASE: `content` (when replace_content) replaces every held byte,
 *     and `tool_calls` (when replace_tool_calls) every held tool-call delta: each call goes on
 *     whole, as one delta whose index is its position (none: the held deltas are withheld). */
typedef struct outrigger_guardrail_action {
  outrigger_header hdr;
  const outrigger_message_view* messages;
  size_t message_count;
  outrigger_str content;
  const outrigger_tool_call_view* tool_calls;
  size_t tool_call_count;
  uint8_t replace_content;
  uint8_t replace_tool_calls;
  uint8_t reask;
  uint8_t reserved_[5];
  /* ---- minor 2 tail, read behind OUTRIGGER_HAS_SLOT (zero from a plugin built without it) */
  /* on_request or on_response with verdict DENY (or STOP): the code the request ends with
   * instead of PERMISSION_DENIED (a stream stopped by on_chunk or on_stream_end always ends
   * PERMISSION_DENIED):
   * INVALID_ARGUMENT (it can never pass as sent, e.g. over a model's context window),
   * RESOURCE_EXHAUSTED (a size or quota the caller may come back under) or FAILED_PRECONDITION.
   * 0 or any other code keeps PERMISSION_DENIED. */
  outrigger_code deny_code;
  /* on_request, verdict REWRITE, with replace_max_tokens: the request's max_tokens becomes
   * `max_tokens` (the limiters, the provider and the record see it); `messages` may then be NULL. */
  uint32_t max_tokens;
  uint8_t replace_max_tokens;
  /* on_response REWRITE, or an on_chunk / on_stream_end RELEASE: the text handed on holds values
   * the caller's own request was redacted of (a reversible redaction restoring its placeholders),
   * so records and traces keep no answer text for this request (they would hold what the prompt
   * they keep was redacted of). Later 1.2 builds; 0 from a plugin built without it. */
  uint8_t restores_caller_values;
  uint8_t reserved2_[6];
} outrigger_guardrail_action;
#define OUTRIGGER_MIN_SIZE_GUARDRAIL_ACTION OUTRIGGER_SIZE_THROUGH(outrigger_guardrail_action, reserved_) /* 1.2 */

/* Synchronous result of a guardrail hook. The host zeroes it before the call; `reason` is
 * copied by the host when the hook returns. OWNERSHIP: host-owned and always the host's full
 * size, so it has no header: a plugin writes the members its header knows and the rest stay
 * zero. */
typedef struct outrigger_guardrail_result {
  outrigger_verdict verdict;
  outrigger_str reason;
  const outrigger_guardrail_action* action; /* minor 2: NULL, or what REWRITE/RELEASE/re-ask carry */
} outrigger_guardrail_result;

/* ------------------------------------------------------------------ limiters (minor 2) */

/* What admit is asked about: the request's size before it runs. */
typedef struct outrigger_limit_estimate {
  outrigger_header hdr;
  uint64_t prompt_tokens;          /* the prompt's tokens: exact where the host knows the model's
                                    * encoding (up to 1 MiB of text), else an estimate: its text bytes
                                    * (tool definitions included) / 4 plus the chat format's overhead;
                                    * the most over the route's targets */
  uint64_t max_completion_tokens;  /* the caller's max_tokens; 0 when not set */
  /* ---- later 1.2 slots: what the request may cost, priced by the host from its price table
   * over every target of the route (each at its own model), taking the highest price of each
   * kind, so one number covers any fallback. Read them only when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_limit_estimate, unpriced); an earlier 1.2 host lacks them. */
  double prompt_cost_usd;      /* prompt_tokens at the highest input price (cache reads and writes included) */
  double output_price_usd;     /* the highest output price per token (reasoning included) */
  uint64_t max_output_tokens;  /* the largest max_output the targets' prices state; 0 when none does */
  double max_cost_usd;         /* prompt_cost_usd + (max_completion_tokens, else max_output_tokens) *
                                * output_price_usd; 0 when neither cap is known */
  uint8_t unpriced;            /* 1: some target's model has no price; the slots above cover the priced ones */
  /* The most provider attempts one request of the route may be billed for: 1, times 1 + the
   * route's max_reasks when a response guardrail may re-ask, times 2 when it hedges. A budget
   * that reserves its worst case multiplies by it, or re-asks and hedges spend past it. 0 from
   * a host that predates it: read it as 1. */
  uint8_t billed_attempts;
  /* 1: the request has no answer to reserve for (an embeddings request): the output slots are 0
   * and a limiter adds no default answer size of its own. 0 from a host before it (it zeroed
   * this byte as reserved): read it as a chat request. */
  uint8_t no_completion;
  uint8_t reserved_[5];
} outrigger_limit_estimate;

/* Synchronous refusal from admit. The host zeroes it before the call and copies `reason`
 * when the hook returns. OWNERSHIP: host-owned and always the host's full size (no header). */
typedef struct outrigger_limit_result {
  outrigger_code code;      /* 0 means RESOURCE_EXHAUSTED */
  uint32_t retry_after_ms;  /* when a retry may succeed; 0: unknown */
  outrigger_str reason;
} outrigger_limit_result;

/* One provider attempt of an admitted request, as it ended. */
typedef struct outrigger_settlement {
  outrigger_header hdr;
  outrigger_str target;      /* "instance/model"; empty when the request made no attempt */
  outrigger_code code;       /* the attempt's outcome; CANCELLED when it was cut short */
  uint8_t reached_upstream;  /* the upstream may have done (and billed) work */
  uint8_t reserved_[3];
  outrigger_usage usage;     /* what the upstream reported; zeros when it reported nothing */
  double cost_usd;
} outrigger_settlement;

/* ------------------------------------------------------------------ finished-request record */

/* One step of a finished request. An element of outrigger_record_view.spans, which a 1.0 or 1.1
 * exporter steps through by its own sizeof: this struct never grows. What later minors know about
 * a span is in outrigger_span_trace_view, a parallel array. */
typedef struct outrigger_span_view {
  outrigger_str stage;     /* guardrail.request | limiter.admit | cache.lookup | provider | provider.embed |
                              guardrail.response | cache.store | resilience | fallback | limiter.settle |
                              model.complete | model.embed (a plugin's model call through the host) */
  outrigger_str instance;  /* plugin instance name (for resilience: the target started, if any) */
  uint64_t start_ns;       /* monotonic */
  uint64_t duration_ns;
  outrigger_str outcome;   /* continue | pending | stop | hit | miss | error | skipped | cancelled ... */
} outrigger_span_view;

/* Minor 2. A span attribute: a key and its value as text. Keys follow the OpenTelemetry GenAI
 * semantic conventions where one exists (gen_ai.provider.name, gen_ai.request.model,
 * gen_ai.usage.input_tokens ...); the others start with "outrigger.". */
typedef struct outrigger_attribute {
  outrigger_str key;
  outrigger_str value;
} outrigger_attribute;

/* ------------------------------------------------------------------ metrics (minor 2) */

typedef int32_t outrigger_metric_type;
enum {
  OUTRIGGER_METRIC_COUNTER = 0, /* only grows while the instance lives; the name ends in "_total" */
  OUTRIGGER_METRIC_GAUGE = 1    /* a level: remaining budget, entries held, queue depth */
};

/* Where an instance writes its own figures when /metrics is scraped or the sidecar's alert
 * rules are evaluated. OWNERSHIP: host-owned, valid during the plugin type's `metrics` call. */
typedef struct outrigger_metrics_writer {
  outrigger_header hdr;
  void* ctx;
  /* One sample. `name` matches [a-z][a-z0-9_]* (at most 64 bytes) and is published as
   * "outrigger_<name>", with the label plugin_instance="<instance name>" before the plugin's own.
   * `help` is read from a name's first sample. Label names match [a-z_][a-z0-9_]* and are not
   * "plugin_instance", "instance" or "job" (Prometheus's labels for the scraped target); values
   * are UTF-8 text. The host sums samples with the same name and labels (the
   * per-worker instances of a type that is not shared each report their part). A sample that
   * breaks these rules, changes a name's type, or comes past the cap of 1000 samples per instance
   * and scrape, or whose name the daemon's own metrics use, is dropped and counted
   * (outrigger_plugin_metric_samples_dropped, per scrape): keep
   * per-key series bounded (top N), as a scrape cannot hold a label per tenant of a big fleet. */
  void (*sample)(void* ctx, outrigger_metric_type type, outrigger_str name, outrigger_str help,
                 const outrigger_attribute* labels, size_t label_count, double value) OUTRIGGER_NOEXCEPT;
} outrigger_metrics_writer;

/* Minor 2. The trace of one span: span_traces[i] belongs to spans[i]. Every span is a child of
 * the request's root span (the record itself: record.root_span_id, from start_unix_ns for
 * duration_ns), and the root is a child of the caller's W3C traceparent span when the request
 * carried one. Ids are 16 lowercase hex digits (8 bytes), never all zero, unique within the
 * trace. OWNERSHIP: host-owned, valid during export_record.
 * The element size is the host's: step through the array by record.span_trace_size, not by
 * your own sizeof, so a later minor can append members here. */
typedef struct outrigger_span_trace_view {
  outrigger_str span_id;
  outrigger_str parent_span_id;          /* the root span's id */
  uint64_t start_unix_ns;                /* wall clock; the span's start_ns on the record's clock */
  const outrigger_attribute* attributes;
  size_t attribute_count;
} outrigger_span_trace_view;

/* Minor 2. How much of a request's content its record carries (route `capture`). */
typedef int32_t outrigger_capture;
enum {
  OUTRIGGER_CAPTURE_NONE = 0,      /* no prompt, no answer (the default: prompts hold personal data) */
  OUTRIGGER_CAPTURE_METADATA = 1,  /* the prompt's roles, names and tool call names, without text */
  OUTRIGGER_CAPTURE_FULL = 2       /* the prompt as the provider saw it, and the answer */
};

/* A record's verdict is a hook's (PASS ... REWRITE) or one only the host gives: */
enum {
  OUTRIGGER_VERDICT_SKIPPED = 4, /* the guardrail failed and its on_error = skip let the request on */
  OUTRIGGER_VERDICT_ERROR = 5    /* the guardrail failed and its on_error = deny ended the request */
};

typedef struct outrigger_verdict_view {
  outrigger_str guardrail;
  outrigger_verdict verdict;       /* OUTRIGGER_VERDICT_*, SKIPPED and ERROR included */
  outrigger_str reason;
} outrigger_verdict_view;

typedef struct outrigger_record_view {
  outrigger_header hdr;
  outrigger_str trace_id;
  outrigger_str route;
  outrigger_str provider;
  outrigger_str model;
  const outrigger_metadata_view* metadata;
  uint64_t start_unix_ns;  /* wall clock when the request arrived */
  uint64_t duration_ns;
  uint64_t time_to_first_chunk_ns; /* 0 when no chunk was sent */
  outrigger_code code;
  uint8_t stream;
  uint8_t cache_hit;
  uint8_t reserved_[2];
  outrigger_str origin;
  outrigger_str message;
  outrigger_str finish_reason;
  outrigger_usage usage;
  double cost_usd;
  const outrigger_span_view* spans;
  size_t span_count;
  const outrigger_verdict_view* verdicts;
  size_t verdict_count;            /* one per guardrail: its final verdict */

  /* ---- minor 2: tracing and content. The record is always the host's size, but a host of an
   * earlier 1.2 build lacks these: read them only when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_record_view, answer_tool_call_count). */
  outrigger_str root_span_id;        /* the request's own span */
  outrigger_str root_parent_span_id; /* the caller's traceparent span id; empty when none */
  const outrigger_span_trace_view* span_traces; /* span_count elements, parallel to spans */
  size_t span_trace_size;            /* sizeof(outrigger_span_trace_view) on the host: the stride */
  outrigger_capture capture;         /* what the fields below may carry */
  uint8_t reserved2_[4];
  /* The prompt after every rewriting step: what the last attempt's provider saw. METADATA: the
   * roles, names, tool_call_ids and tool call ids, types and names, with empty text. NONE: NULL. */
  const outrigger_message_view* prompt;
  size_t prompt_count;
  outrigger_str answer;              /* FULL only: the answer's text as the client got it */
  const outrigger_tool_call_view* answer_tool_calls; /* FULL: whole; METADATA: without arguments */
  size_t answer_tool_call_count;

  /* ---- minor 2, later builds: read only when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_record_view, cost_unpriced). */
  uint32_t cache_write_tokens;       /* see outrigger_response_view.cache_write_tokens */
  uint8_t cost_unpriced;             /* an attempt reported usage for a model the price table
                                        lacks: cost_usd leaves it out (counted as 0) */
  uint8_t reserved3_[3];
} outrigger_record_view;

/* Minor 2. A score for an earlier answer (the wire Feedback), keyed by the trace id that answer
 * carried. Feedback arrives on a stream of its own, possibly from another connection or process
 * long after the answer, so the host does not check that the trace is one it served.
 * OWNERSHIP: host-owned, valid during export_feedback. */
typedef struct outrigger_feedback_view {
  outrigger_header hdr;
  outrigger_str trace_id;
  double score;
  outrigger_str comment;
  const outrigger_metadata_view* metadata;  /* never NULL; its fields are empty when not sent */
  uint64_t received_unix_ns;                /* wall clock when the host received it */
} outrigger_feedback_view;

/* ------------------------------------------------------------------ outbound HTTP (minor 1) */

/* A header, both ways. Names are case-insensitive; the host keeps them as sent. */
typedef struct outrigger_http_header {
  outrigger_str name;
  outrigger_str value;
} outrigger_http_header;

/* OWNERSHIP: caller-owned; the host copies everything during http_request. Timeouts of 0 take
 * the host's defaults; the request's deadline caps all of them and always wins. */
typedef struct outrigger_http_request {
  outrigger_header hdr;
  outrigger_str method;                 /* "POST", "GET" ...; empty means GET, or POST with a body */
  outrigger_str url;                    /* http:// or https:// */
  const outrigger_http_header* headers;
  size_t header_count;
  outrigger_str body;
  uint32_t connect_timeout_ms;          /* TCP + TLS handshake */
  uint32_t first_byte_timeout_ms;       /* from the start until the response headers arrive */
  uint32_t idle_timeout_ms;             /* longest gap between two pieces of the body */
  uint32_t total_timeout_ms;            /* the whole transfer */
} outrigger_http_request;
/* Smallest HTTP request a plugin may pass (http_request): the 1.1 layout. */
#define OUTRIGGER_MIN_SIZE_HTTP_REQUEST OUTRIGGER_SIZE_THROUGH(outrigger_http_request, total_timeout_ms)

/* Why a transfer ended (outrigger_http_result.error). */
typedef int32_t outrigger_http_error;
enum {
  OUTRIGGER_HTTP_OK = 0,                /* a response arrived whole, whatever its status */
  OUTRIGGER_HTTP_E_RESOLVE = 1,         /* the host name did not resolve */
  OUTRIGGER_HTTP_E_CONNECT = 2,         /* refused or unreachable */
  OUTRIGGER_HTTP_E_TLS = 3,             /* handshake or certificate failure */
  OUTRIGGER_HTTP_E_CONNECT_TIMEOUT = 4,
  OUTRIGGER_HTTP_E_FIRST_BYTE_TIMEOUT = 5,
  OUTRIGGER_HTTP_E_IDLE_TIMEOUT = 6,
  OUTRIGGER_HTTP_E_TOTAL_TIMEOUT = 7,
  OUTRIGGER_HTTP_E_DEADLINE = 8,        /* the request's deadline came first */
  OUTRIGGER_HTTP_E_TRANSPORT = 9,       /* reset, truncated body, protocol error */
  OUTRIGGER_HTTP_E_ABORTED = 10,        /* the sink returned a negative status */
  OUTRIGGER_HTTP_E_CANCELLED = 11,      /* the request ended (or the host shut down) first */
  OUTRIGGER_HTTP_E_INTERNAL = 12
};

/* The final response's status line and headers (1xx interim responses are not reported). */
typedef struct outrigger_http_response_head {
  outrigger_header hdr;
  int32_t status;
  const outrigger_http_header* headers;
  size_t header_count;
} outrigger_http_response_head;

typedef struct outrigger_http_result {
  outrigger_header hdr;
  outrigger_http_error error;
  int32_t status;                       /* HTTP status, 0 when no response head arrived */
  outrigger_str message;                /* transport detail; never contains request headers */
  uint64_t body_bytes;
} outrigger_http_result;

/* The plugin's receiver for one transfer. Every callback runs on the request's loop thread,
 * never from inside http_request. The host copies the table during http_request.
 * OWNERSHIP: views are borrowed for the duration of the callback. */
typedef struct outrigger_http_sink {
  outrigger_header hdr;
  /* [loop] Optional. Once, when the final response head arrived, before any body. Return
   * OUTRIGGER_OK, or a negative status to abort (on_complete follows with E_ABORTED). */
  outrigger_status (*on_head)(void* user_data, const outrigger_http_response_head* head) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. A piece of the body, in order. The bytes are consumed whatever the return:
   * OUTRIGGER_OK asks for more; OUTRIGGER_PAUSE asks for nothing more until http_resume (the
   * idle timeout is suspended meanwhile); a negative status aborts. */
  outrigger_status (*on_body)(void* user_data, outrigger_str bytes) OUTRIGGER_NOEXCEPT;
  /* [loop] Exactly once per accepted transfer, unless http_cancel ran first. */
  void (*on_complete)(void* user_data, const outrigger_http_result* result) OUTRIGGER_NOEXCEPT;
} outrigger_http_sink;
/* Smallest sink a plugin may pass (http_request): the 1.1 layout. */
#define OUTRIGGER_MIN_SIZE_HTTP_SINK OUTRIGGER_SIZE_THROUGH(outrigger_http_sink, on_complete)

/* ------------------------------------------------------------------ embeddings (minor 1) */

/* One embeddings call: a vector for each input text. Borrowed like outrigger_request_view: valid
 * until the request ends (its answer is sent, or the provider's cancel hook has returned). */
typedef struct outrigger_embed_request_view {
  outrigger_header hdr;
  outrigger_request handle;
  outrigger_str route;
  outrigger_str model;                  /* the model the provider should call */
  const outrigger_str* inputs;          /* the texts, in order; at least one */
  size_t input_count;
  uint32_t dimensions;                  /* wanted vector length; 0: the model's own */
  uint32_t reserved_;
  const outrigger_metadata_view* metadata;
  uint64_t deadline_ns;                 /* absolute, on the host's monotonic clock (now_ns) */
  outrigger_str extra_json;             /* provider-specific fields, a JSON object or empty */
  outrigger_str trace_id;
  /* ---- minor 2, later builds: present when hdr.struct_size >=
   * OUTRIGGER_SIZE_THROUGH(outrigger_embed_request_view, flags). */
  uint32_t flags;                       /* OUTRIGGER_EMBED_* */
  uint32_t reserved2_;
} outrigger_embed_request_view;
/* Each input is a JSON array of token ids ("[9906,1917]", compact, ids < 2^31), as the OpenAI
 * embeddings API takes them, not text. Only a provider whose type declares
 * OUTRIGGER_CAP_EMBED_TOKEN_IDS is given such a request; the host refuses it for any other. */
#define OUTRIGGER_EMBED_TOKEN_IDS (1u << 0)

/* One vector. */
typedef struct outrigger_embedding_view {
  const float* values;
  size_t size;
} outrigger_embedding_view;

/* The answer to an embed call, or its failure. OWNERSHIP: plugin-owned; the host copies it
 * during embeddings_done. */
typedef struct outrigger_embeddings_view {
  outrigger_header hdr;
  outrigger_code code;                  /* OUTRIGGER_CODE_OK or the failure */
  uint8_t retryable;
  uint8_t reserved_[3];
  uint32_t retry_after_ms;
  outrigger_str message;                /* failure description */
  const outrigger_embedding_view* embeddings; /* on success: exactly one per input, in input order */
  size_t embedding_count;
  outrigger_usage usage;                /* prompt_tokens; the rest 0 */
  double cost_usd;
  outrigger_str model;                  /* the model that answered */
} outrigger_embeddings_view;
/* Smallest embeddings view a plugin may pass (embeddings_done): its first (1.1) layout. */
#define OUTRIGGER_MIN_SIZE_EMBEDDINGS_VIEW OUTRIGGER_SIZE_THROUGH(outrigger_embeddings_view, model)

/* ------------------------------------------------------------------ model calls (minor 2) */

/* A model call a plugin makes through the host (complete, embed): the named route runs as a
 * child of the calling request, on its loop, under its deadline, cancel and tenant, with the
 * route's own stages, limits, breakers and cost, its spans in the caller's trace. A route may
 * only call the routes its `calls` list names, and those lists may not form a cycle (checked
 * when the config loads). OWNERSHIP: the plugin's; copied during the call. */
typedef struct outrigger_model_call {
  outrigger_header hdr;
  outrigger_str route;                      /* the route to run; must be in the caller's `calls` */
  const outrigger_message_view* messages;   /* complete: the conversation */
  size_t message_count;
  const outrigger_params_view* params;      /* complete: NULL for the route's defaults */
  const outrigger_str* inputs;              /* embed: the texts */
  size_t input_count;
  uint32_t dimensions;                      /* embed: 0 for the model's own */
  uint32_t timeout_ms;                      /* 0: the caller's remaining time, never more */
} outrigger_model_call;
#define OUTRIGGER_MIN_SIZE_MODEL_CALL OUTRIGGER_SIZE_THROUGH(outrigger_model_call, timeout_ms) /* 1.2 */

/* The end of a model call, on the caller's loop, exactly once when complete/embed returned
 * OUTRIGGER_OK, possibly before it returns. `answer`/`result` are borrowed for the call; their
 * code says how the child ended (CANCELLED when the caller ended first). */
typedef void (*outrigger_complete_callback)(void* user_data, const outrigger_response_view* answer);
typedef void (*outrigger_embed_callback)(void* user_data, const outrigger_embeddings_view* result);

/* ------------------------------------------------------------------ host API */

/* Called on the request's loop with OUTRIGGER_OK, or with OUTRIGGER_E_STALE when the request
 * ended first (so `user_data` can always be freed in the callback). Called exactly once. */
typedef void (*outrigger_callback)(void* user_data, outrigger_status status);

/* Minor 2: readiness of a watched file descriptor (watch_fd). */
#define OUTRIGGER_FD_READABLE ((uint32_t)1 << 0)
#define OUTRIGGER_FD_WRITABLE ((uint32_t)1 << 1)

/* Called on the instance's loop with the OUTRIGGER_FD_* bits `fd` is ready for and
 * OUTRIGGER_OK; last with OUTRIGGER_E_STALE, exactly once (see watch_fd). */
typedef void (*outrigger_fd_callback)(void* user_data, int fd, uint32_t ready_events, outrigger_status status);

/* Minor 2 (later builds). One target's circuit breaker, as the `breakers` host call shows it.
 * OWNERSHIP: host-owned, valid during the visit. */
typedef enum outrigger_breaker_state {
  OUTRIGGER_BREAKER_CLOSED = 0,
  OUTRIGGER_BREAKER_OPEN = 1,
  OUTRIGGER_BREAKER_HALF_OPEN = 2
} outrigger_breaker_state;
typedef struct outrigger_breaker_view {
  outrigger_str target;        /* "instance/model" */
  uint8_t state;               /* outrigger_breaker_state */
  uint8_t opened_here;         /* open because of this process's own failures (not breaker_open) */
  uint8_t reserved_[2];
  uint32_t open_remaining_ms;  /* while open: until it turns half-open */
  uint64_t times_opened;       /* this process's trips so far: a change is a new opening */
} outrigger_breaker_view;
typedef void (*outrigger_breaker_visitor)(void* user_data, const outrigger_breaker_view* breaker);

/* Minor 2, later builds: a model's token limits from the host's model table (model_limits).
 * OWNERSHIP: caller-owned; set `hdr` with OUTRIGGER_HEADER_INIT before the call, and the host
 * writes only the members within hdr.struct_size. provider and model point into the host's
 * table, valid until the hook that asked returns. */
typedef struct outrigger_model_limits {
  outrigger_header hdr;
  uint64_t context_window;  /* prompt and answer tokens together; 0: unknown */
  uint64_t max_input;       /* prompt tokens, where fewer than the window less the answer; 0: unknown */
  uint64_t max_output;      /* the largest answer; 0: unknown */
  outrigger_str provider;   /* the entry that gave them ("openai"); empty when none did */
  outrigger_str model;      /* its model ("gpt-4o") */
} outrigger_model_limits;

/* Minor 2: what one instance may hold on its loop at once (see instance_post). */
#define OUTRIGGER_INSTANCE_MAX_TIMERS 256
#define OUTRIGGER_INSTANCE_MAX_WATCHES 64
#define OUTRIGGER_INSTANCE_MAX_EARLY_POSTS 64
#define OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS 64

/* OWNERSHIP: host-owned, valid for the instance's lifetime. `host_ctx` identifies the
 * instance to the host and is passed back on every call. */
typedef struct outrigger_host_api {
  outrigger_header hdr;
  void* host_ctx;

  /* [any] Writes a line to the host's log, prefixed with the instance name. */
  void (*log)(void* host_ctx, outrigger_log_level level, outrigger_str message) OUTRIGGER_NOEXCEPT;
  /* [any] Monotonic nanoseconds; the clock of deadline_ns and span times. */
  uint64_t (*now_ns)(void* host_ctx) OUTRIGGER_NOEXCEPT;

  /* [any] Runs `fn` on the request's loop thread. Thread-safe; the only way for a plugin's own
   * thread to reach the request path. On OUTRIGGER_OK `fn` runs exactly once, with
   * OUTRIGGER_E_STALE when the request ended first; OUTRIGGER_E_NOMEM (the loop's queue is full
   * or the loop is stopping) never calls it. */
  outrigger_status (*post)(void* host_ctx, outrigger_request request, outrigger_callback fn,
                           void* user_data) OUTRIGGER_NOEXCEPT;
  /* [loop] Runs `fn` on the request's loop after `delay_ms`. Bound to the request: if it ends
   * first, `fn` runs then with OUTRIGGER_E_STALE. Called after the end, it returns
   * OUTRIGGER_E_STALE and never calls `fn`. */
  outrigger_status (*set_timer)(void* host_ctx, outrigger_request request, uint32_t delay_ms,
                                outrigger_callback fn, void* user_data) OUTRIGGER_NOEXCEPT;

  /* [loop] Completion of a PENDING on_request or on_response (a pending on_chunk or
   * on_stream_end completes through guardrail_decided; here it gets OUTRIGGER_E_INVALID). */
  outrigger_status (*guardrail_done)(void* host_ctx, outrigger_request request,
                                     outrigger_verdict verdict, outrigger_str reason) OUTRIGGER_NOEXCEPT;
  /* [loop] Completion of a PENDING cache lookup: `hit` NULL is a miss. A hit whose text is not
   * UTF-8 is taken as a miss. */
  outrigger_status (*cache_done)(void* host_ctx, outrigger_request request,
                                 const outrigger_response_view* hit) OUTRIGGER_NOEXCEPT;
  /* [loop] A piece of a provider's answer. Returns OUTRIGGER_OK, OUTRIGGER_PAUSE (the client
   * is slow: send nothing more until the provider's resume hook runs) or OUTRIGGER_E_STALE.
   * Its text is UTF-8 and ends between code points: a chunk that is not gets OUTRIGGER_E_INVALID,
   * as does everything after it, and the attempt fails (UNAVAILABLE, retryable) at its done. */
  outrigger_status (*provider_chunk)(void* host_ctx, outrigger_request request,
                                     const outrigger_chunk_view* chunk) OUTRIGGER_NOEXCEPT;
  /* [loop] Completion of provider start: the answer or the failure, exactly once. An answer
   * whose text is not UTF-8 becomes a failure (UNAVAILABLE, retryable); a failure's message that
   * is not UTF-8 is passed on with U+FFFD in place of the bad bytes. */
  outrigger_status (*provider_done)(void* host_ctx, outrigger_request request,
                                    const outrigger_response_view* response) OUTRIGGER_NOEXCEPT;

  /* ---- minor 1: outbound HTTP through the host's per-worker client. Read behind
   * OUTRIGGER_HAS_SLOT. A transfer is bound to `request`: when the request ends, a transfer
   * still running is aborted and completes with OUTRIGGER_HTTP_E_CANCELLED. */

  /* [loop] Starts a transfer. On OUTRIGGER_OK, *transfer_id identifies it and the sink's
   * on_complete runs exactly once later (unless cancelled); on an error nothing is called. */
  outrigger_status (*http_request)(void* host_ctx, outrigger_request request, const outrigger_http_request* http,
                                   const outrigger_http_sink* sink, void* user_data,
                                   uint64_t* transfer_id) OUTRIGGER_NOEXCEPT;
  /* [loop] Aborts a transfer at once; no sink callback runs after it returns. Idempotent:
   * OUTRIGGER_E_STALE for a transfer that already completed. */
  outrigger_status (*http_cancel)(void* host_ctx, outrigger_request request, uint64_t transfer_id) OUTRIGGER_NOEXCEPT;
  /* [loop] Lets a transfer paused by on_body's OUTRIGGER_PAUSE deliver body again. */
  outrigger_status (*http_resume)(void* host_ctx, outrigger_request request, uint64_t transfer_id) OUTRIGGER_NOEXCEPT;

  /* ---- minor 1: embeddings. Read behind OUTRIGGER_HAS_SLOT. */

  /* [loop] Completion of a PENDING embed hook: the vectors or the failure, exactly once per
   * embed call. A second call returns OUTRIGGER_E_INVALID; a call after the request ended
   * (deadline, client gone, cancel hook run) returns OUTRIGGER_E_STALE and has no effect. */
  outrigger_status (*embeddings_done)(void* host_ctx, outrigger_request request,
                                      const outrigger_embeddings_view* embeddings) OUTRIGGER_NOEXCEPT;

  /* ---- minor 2: guardrails that change things, and per-request state. Read behind
   * OUTRIGGER_HAS_SLOT. */

  /* [loop] Completion of any PENDING guardrail hook, with what the hook would have returned:
   * `decision` CONTINUE or STOP for on_request/on_response; CONTINUE, HOLD, RELEASE or STOP
   * for on_chunk/on_stream_end. `action` may be NULL; it is copied during the call. Exactly
   * once per pending hook: a second call returns OUTRIGGER_E_INVALID. (guardrail_done stays
   * for verdicts without an action.) */
  outrigger_status (*guardrail_decided)(void* host_ctx, outrigger_request request, outrigger_status decision,
                                        outrigger_verdict verdict, outrigger_str reason,
                                        const outrigger_guardrail_action* action) OUTRIGGER_NOEXCEPT;
  /* [loop] Keeps `state` for this instance on this request (one slot per instance per
   * request). `release`, when not NULL, runs exactly once on the request's loop: when the
   * request has ended (after its end frame went out) or when a later call replaces the state.
   * E.g. the placeholder -> original map of a reversible redaction. */
  outrigger_status (*set_request_state)(void* host_ctx, outrigger_request request, void* state,
                                        void (*release)(void* state)) OUTRIGGER_NOEXCEPT;
  /* [loop] The state this instance set on the request, or NULL (none, stale handle, other
   * thread). A request that has ended keeps answering until its states are released, so a
   * limiter's settle for the attempt the end cut short can read its admission. */
  void* (*request_state)(void* host_ctx, outrigger_request request) OUTRIGGER_NOEXCEPT;
  /* [loop] Completion of a PENDING limiter admit: `code` OUTRIGGER_CODE_OK admits, anything
   * else refuses the request with that code, `retry_after_ms` and `reason`. Exactly once. */
  outrigger_status (*limiter_done)(void* host_ctx, outrigger_request request, outrigger_code code,
                                   uint32_t retry_after_ms, outrigger_str reason) OUTRIGGER_NOEXCEPT;
  /* [loop] Runs `call->route` as a chat completion, a child of `request` (see
   * outrigger_model_call). On OUTRIGGER_OK `done` runs exactly once; OUTRIGGER_E_INVALID when
   * the route is unknown or not in the caller's `calls`, the call is malformed, its text
   * (messages, parameters, inputs) is not UTF-8, or the request already made 64 model calls
   * (nothing runs then); OUTRIGGER_E_STALE once the caller's deadline has passed. */
  outrigger_status (*complete)(void* host_ctx, outrigger_request request, const outrigger_model_call* call,
                               outrigger_complete_callback done, void* user_data) OUTRIGGER_NOEXCEPT;
  /* [loop] Likewise, embeddings of call->inputs (the route's limiters and targets apply; its
   * guardrails and caches do not). */
  outrigger_status (*embed)(void* host_ctx, outrigger_request request, const outrigger_model_call* call,
                            outrigger_embed_callback done, void* user_data) OUTRIGGER_NOEXCEPT;

  /* ---- minor 2: the instance's own loop, without a request (a Redis client on the worker's
   * loop, a periodic refresh, an exporter that batches on a timer). Read behind
   * OUTRIGGER_HAS_SLOT.
   *
   * A per-worker instance belongs to one worker's loop, bound when that worker installs the
   * first chain that holds the instance (after create returned). An exporter belongs to the
   * exporter thread's loop (the thread its export_record runs on), bound when the host starts
   * using the configuration that holds it. Until then instance_post queues and the timer, fd
   * and HTTP calls return OUTRIGGER_E_UNSUPPORTED: start loop work from create with an
   * instance_post. Shared instances (OUTRIGGER_CAP_SHARED_INSTANCE) have no single loop: every
   * call below returns OUTRIGGER_E_UNSUPPORTED for them.
   *
   * [instance loop] means the thread of that loop; from any other thread these calls return
   * OUTRIGGER_E_WRONG_THREAD. An error return never calls the callback; on OUTRIGGER_OK the
   * callback's last call (its "final" call) comes exactly once, so user_data can be freed there.
   *
   * Teardown: when the last chain holding the instance is gone, the host, on the instance's
   * loop, completes every transfer still running with OUTRIGGER_HTTP_E_CANCELLED, ends every
   * timer and watch with a final OUTRIGGER_E_STALE call and runs the posts already queued, and
   * only then calls destroy (on that loop, when there was anything to end). A worker or the
   * exporter thread shutting down ends them the same way. No callback runs during or after destroy,
   * except a post made while teardown is under way, which runs with OUTRIGGER_E_STALE on the
   * posting thread before instance_post returns. From then on every call below returns
   * OUTRIGGER_E_STALE (instance_post: runs fn with it).
   *
   * Bounds per instance: OUTRIGGER_INSTANCE_MAX_TIMERS live timers,
   * OUTRIGGER_INSTANCE_MAX_WATCHES live watches, OUTRIGGER_INSTANCE_MAX_EARLY_POSTS posts queued
   * before the loop is bound, OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS transfers in flight; beyond
   * them OUTRIGGER_E_NOMEM. */

  /* [any] Runs `fn(user_data, OUTRIGGER_OK)` on the instance's loop, exactly once; with
   * OUTRIGGER_E_STALE instead when the instance is torn down or its loop stopped first
   * (possibly on the calling thread, before this returns). OUTRIGGER_E_NOMEM when the loop's
   * queue is full (fn is not called). */
  outrigger_status (*instance_post)(void* host_ctx, outrigger_callback fn, void* user_data) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Runs `fn` after `delay_ms`, then every `repeat_ms` when it is not 0. A
   * one-shot timer's fn runs exactly once: OUTRIGGER_OK when it fires, or OUTRIGGER_E_STALE when
   * cancelled or torn down first. A repeating timer's fn runs with OUTRIGGER_OK each time and,
   * last, exactly once with OUTRIGGER_E_STALE (cancel or teardown). *timer_id names it. */
  outrigger_status (*instance_timer)(void* host_ctx, uint32_t delay_ms, uint32_t repeat_ms, outrigger_callback fn,
                                     void* user_data, uint64_t* timer_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Stops a timer; its final OUTRIGGER_E_STALE call runs before this returns
   * (from inside the timer's own fn: right after that fn returns). OUTRIGGER_E_STALE for a timer
   * that already made its final call. */
  outrigger_status (*instance_timer_cancel)(void* host_ctx, uint64_t timer_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Calls `fn(user_data, fd, ready, OUTRIGGER_OK)` whenever `fd` is ready for
   * some of `events` (OUTRIGGER_FD_* bits; 0 watches nothing for now). A polling error calls it
   * with ready 0 and OUTRIGGER_E_INTERNAL; the watch stays. The final call is
   * `fn(user_data, fd, 0, OUTRIGGER_E_STALE)`, exactly once, after unwatch_fd or at teardown.
   * OWNERSHIP: the plugin owns `fd` and closes it only after unwatch_fd returned (or in the final
   * call). One watch per fd: a second returns OUTRIGGER_E_INVALID. *watch_id names it. */
  outrigger_status (*watch_fd)(void* host_ctx, int fd, uint32_t events, outrigger_fd_callback fn, void* user_data,
                               uint64_t* watch_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Replaces the events a watch waits for (0: none for now). */
  outrigger_status (*watch_fd_update)(void* host_ctx, uint64_t watch_id, uint32_t events) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Ends a watch; its final OUTRIGGER_E_STALE call runs before this returns
   * (from inside the watch's own fn: right after that fn returns). No other call follows.
   * OUTRIGGER_E_STALE for a watch already ended. */
  outrigger_status (*unwatch_fd)(void* host_ctx, uint64_t watch_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Starts an outbound HTTP transfer owned by the instance, not by a request,
   * through the host client of the instance's loop (its TLS, proxy and connection settings).
   * Like http_request otherwise: the sink's callbacks run on the instance's loop, never from
   * inside this call; on OUTRIGGER_OK on_complete runs exactly once later unless
   * instance_http_cancel ran first; on an error nothing is called. There is no deadline: the
   * request's own timeout fields (0: the host's defaults) bound the transfer. At teardown a
   * transfer still running completes with OUTRIGGER_HTTP_E_CANCELLED before destroy.
   * OUTRIGGER_E_NOMEM beyond OUTRIGGER_INSTANCE_MAX_HTTP_TRANSFERS in flight (back off, retry
   * after an on_complete). OWNERSHIP: `http` and `sink` are copied during the call. */
  outrigger_status (*instance_http_request)(void* host_ctx, const outrigger_http_request* http,
                                            const outrigger_http_sink* sink, void* user_data,
                                            uint64_t* transfer_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Aborts an instance transfer at once; no sink callback runs after it returns.
   * OUTRIGGER_E_STALE for a transfer that already completed. */
  outrigger_status (*instance_http_cancel)(void* host_ctx, uint64_t transfer_id) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Lets an instance transfer paused by on_body's OUTRIGGER_PAUSE deliver body
   * again. */
  outrigger_status (*instance_http_resume)(void* host_ctx, uint64_t transfer_id) OUTRIGGER_NOEXCEPT;

  /* ---- minor 2, later builds: read behind OUTRIGGER_HAS_SLOT. */

  /* [loop] Adds `key` = `value` to the span of this instance's hook that is running or pending
   * on `request` (a cache lookup's best similarity, a score a threshold is tuned by). `key`
   * starts with "outrigger." and is at most 64 bytes, `value` at most 256; both UTF-8; at most 8
   * per span. OUTRIGGER_E_INVALID otherwise, OUTRIGGER_E_STALE when the instance has no open span on the
   * request. Copied during the call. */
  outrigger_status (*span_attribute)(void* host_ctx, outrigger_request request, outrigger_str key,
                                     outrigger_str value) OUTRIGGER_NOEXCEPT;

  /* [instance loop] The process's circuit breakers, one `visit` call each before this returns
   * (a fleet shares them: limiter.redis). A per-worker instance only; OUTRIGGER_E_UNSUPPORTED
   * for shared instances and exporters. */
  outrigger_status (*breakers)(void* host_ctx, outrigger_breaker_visitor visit, void* user_data) OUTRIGGER_NOEXCEPT;
  /* [instance loop] Opens `target`'s breaker ("instance/model") for `open_ms`, as a trip
   * elsewhere in the fleet: then half-open as after any trip. Never shortens an open breaker; not
   * counted as this process's trip (outrigger_breaker_view.times_opened). OUTRIGGER_E_INVALID for
   * a target this process has no breaker for. */
  outrigger_status (*breaker_open)(void* host_ctx, outrigger_str target, uint32_t open_ms) OUTRIGGER_NOEXCEPT;

  /* [loop] The context window, input and output limits the host's model table gives `model` on
   * `request`'s route: the compiled-in table with the config's [prices] entries over it, so a
   * limit set there reaches every plugin that asks. The entry is the one a route's target would
   * be priced by (the targets in order: the instance, then its plugin type, the model as given,
   * then undated), else the one named like the model (or an alias of it) under any provider,
   * else the longest name that starts the model followed by '-' (gpt-4o-2024-08-06 takes
   * gpt-4o's), a later source winning over an earlier one; an entry without any limit is passed
   * over. OUTRIGGER_OK with the members 0 and the names empty when no entry has limits;
   * OUTRIGGER_E_INVALID when `out` is NULL or smaller than its max_output member. */
  outrigger_status (*model_limits)(void* host_ctx, outrigger_request request, outrigger_str model,
                                   outrigger_model_limits* out) OUTRIGGER_NOEXCEPT;

  /* Tail: slots added by later minors go here. */
} outrigger_host_api;

/* ------------------------------------------------------------------ plugin hook tables */

typedef struct outrigger_provider_hooks {
  outrigger_header hdr;
  /* [loop] Starts the call. Returns OUTRIGGER_PENDING and later calls provider_done once. */
  outrigger_status (*start)(void* instance, const outrigger_request_view* request) OUTRIGGER_NOEXCEPT;
  /* [loop] Abandons the call. Idempotent; no completion is accepted after it returns. */
  void (*cancel)(void* instance, outrigger_request request) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. After OUTRIGGER_PAUSE, the client drained: produce chunks again. */
  void (*resume)(void* instance, outrigger_request request) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional (minor 1). Starts an embeddings call; a route whose provider lacks it answers
   * OUTRIGGER_CODE_UNIMPLEMENTED. Returns OUTRIGGER_PENDING and later calls the host's
   * embeddings_done exactly once (possibly before returning), or a negative status (nothing
   * more is expected then). When the request ends first (deadline, cancel) the host calls
   * `cancel` with the same handle and accepts no completion afterwards. */
  outrigger_status (*embed)(void* instance, const outrigger_embed_request_view* request) OUTRIGGER_NOEXCEPT;
} outrigger_provider_hooks;
/* The 1.0 layout ends at resume; embed came later in minor 1, so the host reads it only behind
 * OUTRIGGER_HAS_SLOT (a plugin built against the first 1.1 header has no embed slot). */
#define OUTRIGGER_MIN_SIZE_PROVIDER_HOOKS OUTRIGGER_SIZE_THROUGH(outrigger_provider_hooks, resume)

typedef struct outrigger_guardrail_hooks {
  outrigger_header hdr;
  /* [loop] Optional. CONTINUE (pass or flag via result), STOP (deny via result), or PENDING. */
  outrigger_status (*on_request)(void* instance, const outrigger_request_view* request,
                                 outrigger_guardrail_result* result) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. Sees every chunk of a streamed answer before the client (and before the
   * next guardrail, which sees what this one lets through). CONTINUE: this chunk and anything
   * held go on. STOP: the stream ends with the reason (PERMISSION_DENIED). Minor 2: HOLD keeps
   * this chunk back; RELEASE lets everything held (this chunk included) go on, or its
   * replacement (result->action); PENDING decides later through guardrail_decided, the provider
   * pausing meanwhile. Held bytes are bounded per request (route `max_held_bytes`); over the
   * bound the stream ends RESOURCE_EXHAUSTED. The chunk view is valid during this call only
   * (the host keeps what is held): a pending hook copies what it needs. */
  outrigger_status (*on_chunk)(void* instance, const outrigger_request_view* request,
                               const outrigger_chunk_view* chunk,
                               outrigger_guardrail_result* result) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. Same contract as on_request, over the whole answer. */
  outrigger_status (*on_response)(void* instance, const outrigger_request_view* request,
                                  const outrigger_response_view* response,
                                  outrigger_guardrail_result* result) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. A PENDING hook's request ended; idempotent. */
  void (*on_cancel)(void* instance, outrigger_request request) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional (minor 2). The provider's stream ended: decide on what this guardrail
   * still holds. CONTINUE or RELEASE (with a replacement) lets it go on; STOP ends the stream
   * denied; PENDING decides through guardrail_decided. Called once per streamed answer, also
   * when nothing is held. */
  outrigger_status (*on_stream_end)(void* instance, const outrigger_request_view* request,
                                    outrigger_guardrail_result* result) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional (minor 2, later builds). The answer's stream starts over: the provider is
   * called again (a retry, a fallback or a re-ask) after this guardrail saw chunks of an attempt
   * none of which reached the client. Forget what was kept of those chunks; the host already
   * dropped what it held. on_chunk then sees the new attempt's chunks, and on_stream_end runs
   * again at its end. */
  void (*on_stream_restart)(void* instance, const outrigger_request_view* request) OUTRIGGER_NOEXCEPT;
} outrigger_guardrail_hooks;
#define OUTRIGGER_MIN_SIZE_GUARDRAIL_HOOKS OUTRIGGER_SIZE_THROUGH(outrigger_guardrail_hooks, on_cancel) /* 1.0 */

typedef struct outrigger_cache_hooks {
  outrigger_header hdr;
  /* [loop] CONTINUE is a miss; PENDING means cache_done follows (or already ran). */
  outrigger_status (*lookup)(void* instance, const outrigger_request_view* request) OUTRIGGER_NOEXCEPT;
  /* [loop] Stores a successful answer; copy what you keep. */
  void (*store)(void* instance, const outrigger_request_view* request,
                const outrigger_response_view* response) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. A PENDING lookup's request ended; idempotent. */
  void (*on_cancel)(void* instance, outrigger_request request) OUTRIGGER_NOEXCEPT;
} outrigger_cache_hooks;
#define OUTRIGGER_MIN_SIZE_CACHE_HOOKS OUTRIGGER_SIZE_THROUGH(outrigger_cache_hooks, on_cancel) /* 1.0 */

typedef struct outrigger_exporter_hooks {
  outrigger_header hdr;
  /* [export] One finished request. Must not block for long: the exporter queue is bounded. */
  outrigger_status (*export_record)(void* instance, const outrigger_record_view* record) OUTRIGGER_NOEXCEPT;
  /* [export] Optional. Push buffered records out; called on shutdown and reload. */
  outrigger_status (*flush)(void* instance) OUTRIGGER_NOEXCEPT;
  /* [export] Optional (minor 2). One feedback record. Every exporter of the live config gets
   * it, whatever route served the answer (feedback names no route). Same queue as the records:
   * when it is full the feedback is dropped and counted. OUTRIGGER_E_UNSUPPORTED: not wanted. */
  outrigger_status (*export_feedback)(void* instance, const outrigger_feedback_view* feedback) OUTRIGGER_NOEXCEPT;
} outrigger_exporter_hooks;
#define OUTRIGGER_MIN_SIZE_EXPORTER_HOOKS OUTRIGGER_SIZE_THROUGH(outrigger_exporter_hooks, flush) /* 1.0 */

/* Minor 2. A route's limiters run in order after its request guardrails and before its caches:
 * budgets, fleet-wide rate limits (Redis), quotas. */
typedef struct outrigger_limiter_hooks {
  outrigger_header hdr;
  /* [loop] CONTINUE admits; STOP refuses with `result` (RESOURCE_EXHAUSTED by default); PENDING:
   * limiter_done follows, exactly once. */
  outrigger_status (*admit)(void* instance, const outrigger_request_view* request,
                            const outrigger_limit_estimate* estimate,
                            outrigger_limit_result* result) OUTRIGGER_NOEXCEPT;
  /* [loop] Once per provider attempt of a request this limiter admitted, when the attempt ends
   * (answered, failed, lost a hedge, cut short); once with an empty target and zero usage when
   * the admitted request made no attempt (a cache hit, a later deny). Never for a request it
   * refused or that a limiter before it refused. */
  void (*settle)(void* instance, const outrigger_request_view* request,
                 const outrigger_settlement* settlement) OUTRIGGER_NOEXCEPT;
  /* [loop] Optional. A PENDING admit's request ended; idempotent. No settle follows. */
  void (*on_cancel)(void* instance, outrigger_request request) OUTRIGGER_NOEXCEPT;
} outrigger_limiter_hooks;
#define OUTRIGGER_MIN_SIZE_LIMITER_HOOKS OUTRIGGER_SIZE_THROUGH(outrigger_limiter_hooks, on_cancel) /* 1.2 */

/* ------------------------------------------------------------------ types and entry */

/* OWNERSHIP: plugin-owned, static, valid for the process lifetime. */
typedef struct outrigger_plugin_type {
  outrigger_header hdr;
  outrigger_kind kind;
  outrigger_stability stability;
  outrigger_str name;               /* unique per kind, e.g. "mock" */
  outrigger_str description;
  outrigger_str config_schema_json; /* JSON Schema of the config object; the host validates first */
  uint64_t capabilities;
  /* [init] Creates an instance from its validated config (a JSON object). On failure returns a
   * negative status and fills `error`; `*instance` is then ignored (the host never destroys it:
   * free what create made before returning). Any status but OUTRIGGER_OK is a failure. */
  outrigger_status (*create)(const outrigger_host_api* host, outrigger_str instance_name,
                             outrigger_str config_json, void** instance,
                             outrigger_error* error) OUTRIGGER_NOEXCEPT;
  /* [init] or the thread that dropped the last reference; no request is in flight. Minor 2: an
   * instance that still has timers, watches or posts on its loop is destroyed on that loop,
   * after their final calls; no callback of the instance runs during destroy. */
  void (*destroy)(void* instance) OUTRIGGER_NOEXCEPT;
  /* The kind's hook table: outrigger_provider_hooks, _guardrail_hooks, _cache_hooks,
   * _exporter_hooks or (minor 2) _limiter_hooks, matching `kind`. */
  const void* hooks;
  /* Minor 2, optional: read it behind OUTRIGGER_HAS_SLOT. [main] Writes the instance's own
   * figures (budget remaining, entries held, ...) to `writer`. Runs on the daemon's main thread
   * while the instance serves on its loops: synchronise what it reads, and return quickly (a
   * scrape waits for it). */
  void (*metrics)(void* instance, const outrigger_metrics_writer* writer) OUTRIGGER_NOEXCEPT;
} outrigger_plugin_type;
#define OUTRIGGER_MIN_SIZE_PLUGIN_TYPE OUTRIGGER_SIZE_THROUGH(outrigger_plugin_type, hooks) /* 1.0 */

typedef struct outrigger_plugin_entry {
  outrigger_header hdr;     /* the ABI the plugin was built against */
  outrigger_str library;    /* e.g. "provider_mock" */
  outrigger_str version;    /* the plugin's own version */
  const outrigger_plugin_type* const* types;
  size_t type_count;
} outrigger_plugin_entry;
#define OUTRIGGER_MIN_SIZE_PLUGIN_ENTRY OUTRIGGER_SIZE_THROUGH(outrigger_plugin_entry, type_count) /* 1.0 */

#define OUTRIGGER_ENTRY_SYMBOL "outrigger_plugin_entry_v1"

/* The only symbol a plugin exports. Called once, on the main thread. */
OUTRIGGER_EXPORT const outrigger_plugin_entry* outrigger_plugin_entry_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* OUTRIGGER_PLUGIN_H */
