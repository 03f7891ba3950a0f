#include "ipc/frame_writer.h"

#include <vector>

#include "outrigger_generated.h"

namespace outrigger::ipc {

namespace w = outrigger::wire;

void FrameWriter::finish(std::string* out, uint64_t stream_id, uint8_t body_type,
                         flatbuffers::Offset<void> body) {
  w::FrameBuilder fb(builder_);
  fb.add_stream_id(stream_id);
  fb.add_body(body);
  fb.add_body_type(static_cast<w::Body>(body_type));
  builder_.FinishSizePrefixed(fb.Finish(), w::FrameIdentifier());
  out->append(reinterpret_cast<const char*>(builder_.GetBufferPointer()), builder_.GetSize());
  builder_.Clear();
}

void FrameWriter::helloAck(std::string* out, const HelloAckInfo& info) {
  auto version = builder_.CreateString(info.server_version.data(), info.server_version.size());
  w::HelloAckBuilder b(builder_);
  b.add_proto_major(info.proto_major);
  b.add_proto_minor(info.proto_minor);
  b.add_server_version(version);
  b.add_max_frame_size(info.max_frame_size);
  b.add_max_concurrent_streams(info.max_concurrent_streams);
  b.add_features(static_cast<w::Feature>(info.features));
  b.add_heartbeat_ms(info.heartbeat_ms);
  finish(out, 0, static_cast<uint8_t>(w::Body::HelloAck), b.Finish().Union());
}

void FrameWriter::error(std::string* out, Code code, std::string_view message, uint16_t major_min,
                        uint16_t major_max) {
  auto msg = builder_.CreateString(message.data(), message.size());
  w::ErrorBuilder b(builder_);
  b.add_status(static_cast<w::Status>(code));
  b.add_message(msg);
  b.add_supported_major_min(major_min);
  b.add_supported_major_max(major_max);
  finish(out, 0, static_cast<uint8_t>(w::Body::Error), b.Finish().Union());
}

void FrameWriter::pong(std::string* out, uint64_t opaque) {
  auto body = w::CreatePong(builder_, opaque);
  finish(out, 0, static_cast<uint8_t>(w::Body::Pong), body.Union());
}

void FrameWriter::goAway(std::string* out, uint64_t last_stream_id, std::string_view reason,
                         uint32_t drain_ms) {
  auto r = builder_.CreateString(reason.data(), reason.size());
  auto body = w::CreateGoAway(builder_, last_stream_id, r, drain_ms);
  finish(out, 0, static_cast<uint8_t>(w::Body::GoAway), body.Union());
}

void FrameWriter::responseStart(std::string* out, uint64_t stream_id, const ResponseStartInfo& info) {
  auto model = builder_.CreateString(info.model.data(), info.model.size());
  auto provider = builder_.CreateString(info.provider.data(), info.provider.size());
  auto trace = builder_.CreateString(info.trace_id.data(), info.trace_id.size());
  auto optional = [&](std::string_view s) {
    return s.empty() ? flatbuffers::Offset<flatbuffers::String>() : builder_.CreateString(s.data(), s.size());
  };
  auto fingerprint = optional(info.system_fingerprint);
  auto tier = optional(info.service_tier);
  auto body = w::CreateResponseStart(builder_, model, provider, info.cache_hit, trace, fingerprint, tier);
  finish(out, stream_id, static_cast<uint8_t>(w::Body::ResponseStart), body.Union());
}

void FrameWriter::responseChunk(std::string* out, uint64_t stream_id, const ResponseChunkInfo& chunk) {
  auto delta = builder_.CreateString(chunk.delta.data(), chunk.delta.size());
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<w::ToolCallDelta>>> calls;
  if (chunk.tool_call_count) {
    std::vector<flatbuffers::Offset<w::ToolCallDelta>> v;
    for (size_t i = 0; i < chunk.tool_call_count; ++i) {
      const ToolCallDelta& d = chunk.tool_calls[i];
      v.push_back(w::CreateToolCallDelta(
          builder_, d.index, builder_.CreateString(d.id.data(), d.id.size()),
          builder_.CreateString(d.type.data(), d.type.size()),
          builder_.CreateString(d.name.data(), d.name.size()),
          builder_.CreateString(d.arguments.data(), d.arguments.size())));
    }
    calls = builder_.CreateVector(v);
  }
  auto body = w::CreateResponseChunk(builder_, chunk.seq, delta, calls, chunk.refusal);
  finish(out, stream_id, static_cast<uint8_t>(w::Body::ResponseChunk), body.Union());
}

void FrameWriter::responseEnd(std::string* out, uint64_t stream_id, const ResponseEndInfo& end) {
  auto str = [&](std::string_view s) {
    return s.empty() ? flatbuffers::Offset<flatbuffers::String>() : builder_.CreateString(s.data(), s.size());
  };
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<w::ToolCall>>> calls;
  if (end.tool_calls && !end.tool_calls->empty()) {
    std::vector<flatbuffers::Offset<w::ToolCall>> v;
    for (const ToolCall& c : *end.tool_calls) {
      v.push_back(w::CreateToolCall(builder_, str(c.id), str(c.type), str(c.name), str(c.arguments)));
    }
    calls = builder_.CreateVector(v);
  }
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<w::GuardrailVerdict>>> verdicts;
  if (end.verdicts && !end.verdicts->empty()) {
    std::vector<flatbuffers::Offset<w::GuardrailVerdict>> v;
    for (const Verdict& vd : *end.verdicts) {
      v.push_back(w::CreateGuardrailVerdict(builder_, str(vd.guardrail),
                                            static_cast<w::Verdict>(vd.kind), str(vd.reason)));
    }
    verdicts = builder_.CreateVector(v);
  }
  auto origin = str(end.origin);
  auto message = str(end.message);
  auto content = str(end.content);
  auto finish_reason = str(end.finish_reason);
  auto trace = str(end.trace_id);
  auto model = str(end.model);
  auto fingerprint = str(end.system_fingerprint);
  auto tier = str(end.service_tier);
  auto usage = w::CreateUsage(builder_, end.usage.prompt_tokens, end.usage.completion_tokens,
                              end.usage.cached_tokens, end.usage.reasoning_tokens, end.usage.cache_write_tokens);
  w::ResponseEndBuilder b(builder_);
  b.add_status(static_cast<w::Status>(end.code));
  b.add_retryable(end.retryable);
  b.add_retry_after_ms(end.retry_after_ms);
  b.add_origin(origin);
  b.add_message(message);
  b.add_content(content);
  b.add_finish_reason(finish_reason);
  b.add_tool_calls(calls);
  b.add_usage(usage);
  b.add_cost_usd(end.cost_usd);
  b.add_cache_hit(end.cache_hit);
  b.add_trace_id(trace);
  b.add_verdicts(verdicts);
  b.add_model(model);
  b.add_reached_provider(end.reached_provider);
  b.add_refusal(end.refusal);
  b.add_system_fingerprint(fingerprint);
  b.add_service_tier(tier);
  finish(out, stream_id, static_cast<uint8_t>(w::Body::ResponseEnd), b.Finish().Union());
}

}  // namespace outrigger::ipc
