// Everything known about a finished request, copied out of the request so the exporter thread
// can read it after the request's memory is gone.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/response_sink.h"

namespace outrigger::chain { class WorkerChain; struct Route; }

namespace outrigger::telemetry {

struct SpanRecord {
  std::string stage;     // guardrail.request | cache.lookup | provider | guardrail.response | cache.store
  std::string instance;
  uint64_t start_ns = 0;
  uint64_t duration_ns = 0;
  std::string outcome;
};

struct MetadataRecord {
  std::string tenant, user, session, request_id, prompt_id, prompt_version, traceparent;
  std::vector<std::pair<std::string, std::string>> tags;
};

struct RequestRecord {
  std::shared_ptr<const chain::WorkerChain> chain;  // keeps the route's exporters alive
  const chain::Route* route = nullptr;
  std::string trace_id, route_name, provider, model;
  MetadataRecord metadata;
  uint64_t start_unix_ns = 0;
  uint64_t duration_ns = 0;
  uint64_t time_to_first_chunk_ns = 0;
  Code code = Code::kOk;
  bool stream = false;
  bool cache_hit = false;
  std::string origin, message, finish_reason;
  Usage usage;
  double cost_usd = 0;
  std::vector<SpanRecord> spans;
  std::vector<Verdict> verdicts;
};

}  // namespace outrigger::telemetry
