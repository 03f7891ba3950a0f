#include "support/frames.h"

#include <cstring>

#include "outrigger_generated.h"

namespace outrigger::testing {

namespace w = outrigger::wire;

namespace {
std::string finish(flatbuffers::FlatBufferBuilder& b, uint64_t sid, w::Body type, flatbuffers::Offset<void> body) {
  w::FrameBuilder fb(b);
  fb.add_stream_id(sid);
  fb.add_body_type(type);
  fb.add_body(body);
  b.FinishSizePrefixed(fb.Finish(), w::FrameIdentifier());
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
}
}  // namespace

std::string sharedContentFrame(uint64_t sid, size_t messages, size_t content_bytes) {
  flatbuffers::FlatBufferBuilder b;
  auto content = b.CreateString(std::string(content_bytes, 'x'));
  auto role = b.CreateString("user");
  std::vector<flatbuffers::Offset<w::Message>> msgs;
  for (size_t i = 0; i < messages; ++i) msgs.push_back(w::CreateMessage(b, role, content));
  auto req = w::CreateRequestDirect(b, "default", &msgs);
  return finish(b, sid, w::Body::Request, req.Union());
}

std::string requestFrame(uint64_t sid, const RequestSpec& spec) {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<w::Message>> msgs;
  if (!spec.tool_call_arguments.empty()) {
    std::vector<flatbuffers::Offset<w::ToolCall>> calls = {
        w::CreateToolCallDirect(b, "call_1", "function", "lookup", spec.tool_call_arguments.c_str())};
    msgs.push_back(w::CreateMessageDirect(b, "assistant", "", nullptr, &calls));
    msgs.push_back(w::CreateMessageDirect(b, "tool", "42", nullptr, nullptr, "call_1"));
  }
  for (const auto& [role, content] : spec.messages) {
    msgs.push_back(w::CreateMessageDirect(b, role.c_str(), content.c_str()));
  }
  std::vector<flatbuffers::Offset<w::Tool>> tools;
  for (const auto& [name, parameters] : spec.tools) {
    tools.push_back(w::CreateToolDirect(b, "function", name.c_str(), "", parameters.c_str()));
  }
  flatbuffers::Offset<w::ResponseFormat> format = 0;
  if (!spec.response_schema_json.empty()) {
    format = w::CreateResponseFormatDirect(b, w::ResponseFormatType::JsonSchema, "answer",
                                           spec.response_schema_json.c_str());
  }
  auto params = w::CreateParamsDirect(b, flatbuffers::nullopt, flatbuffers::nullopt, flatbuffers::nullopt,
                                      flatbuffers::nullopt, nullptr, tools.empty() ? nullptr : &tools, nullptr,
                                      format, spec.extra_json.empty() ? nullptr : spec.extra_json.c_str());
  std::vector<flatbuffers::Offset<w::Tag>> tags;
  for (const auto& [key, value] : spec.tags) tags.push_back(w::CreateTagDirect(b, key.empty() ? nullptr : key.c_str(), value.c_str()));
  auto md = w::CreateMetadataDirect(b, spec.tenant.c_str(), nullptr, spec.session.empty() ? nullptr : spec.session.c_str(),
                                    nullptr, nullptr, nullptr, tags.empty() ? nullptr : &tags);
  auto cache = w::CreateCacheControl(b, spec.cache_bypass);
  auto req = w::CreateRequestDirect(b, spec.model.c_str(), &msgs, params, spec.stream, md, spec.timeout_ms, cache);
  return finish(b, sid, w::Body::Request, req.Union());
}

std::string helloFrame(uint16_t major, uint32_t max_frame_size) {
  flatbuffers::FlatBufferBuilder b;
  auto h = w::CreateHelloDirect(b, major, 0, "test", "0", "cpp", max_frame_size, static_cast<w::Feature>(15));
  return finish(b, 0, w::Body::Hello, h.Union());
}

std::string cancelFrame(uint64_t sid) {
  flatbuffers::FlatBufferBuilder b;
  auto c = w::CreateCancelDirect(b, "test cancel");
  return finish(b, sid, w::Body::Cancel, c.Union());
}

std::string feedbackFrame(uint64_t sid, const std::string& trace_id, double score, const std::string& comment,
                          const std::string& tenant) {
  flatbuffers::FlatBufferBuilder b;
  auto md = w::CreateMetadataDirect(b, tenant.empty() ? nullptr : tenant.c_str());
  auto f = w::CreateFeedbackDirect(b, trace_id.empty() ? nullptr : trace_id.c_str(), score,
                                   comment.empty() ? nullptr : comment.c_str(), md);
  return finish(b, sid, w::Body::Feedback, f.Union());
}

std::string pingFrame(uint64_t opaque) {
  flatbuffers::FlatBufferBuilder b;
  auto p = w::CreatePing(b, opaque);
  return finish(b, 0, w::Body::Ping, p.Union());
}

AlignedFrame::AlignedFrame(const std::string& bytes) : words((bytes.size() + 7) / 8), size(bytes.size()) {
  std::memcpy(words.data(), bytes.data(), bytes.size());
}

}  // namespace outrigger::testing
