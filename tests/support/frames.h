// Builds wire frames for tests: a Request with the common fields, and raw helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace outrigger::testing {

struct RequestSpec {
  std::string model = "default";
  std::vector<std::pair<std::string, std::string>> messages = {{"user", "hello"}};
  std::string tenant{};
  std::string session{};
  std::vector<std::pair<std::string, std::string>> tags{};  // key (empty: left out), value
  std::string extra_json{};
  bool stream = false;
  uint32_t timeout_ms = 0;
  bool cache_bypass = false;
  std::vector<std::pair<std::string, std::string>> tools{};  // name, parameters_json
  std::string response_schema_json{};  // non-empty: a json_schema response format with this schema
  std::string tool_call_arguments{};   // non-empty: an assistant call of tool "lookup" with these comes first
};

// A size-prefixed Frame{stream_id, Request}.
std::string requestFrame(uint64_t stream_id, const RequestSpec& spec);
// A Request whose `messages` user messages all point at one content string of `content_bytes`:
// small on the wire, `messages` times larger to whatever reads it.
std::string sharedContentFrame(uint64_t stream_id, size_t messages, size_t content_bytes);
std::string helloFrame(uint16_t major = 1, uint32_t max_frame_size = 4u << 20);
std::string cancelFrame(uint64_t stream_id);
std::string pingFrame(uint64_t opaque);
// A size-prefixed Frame{stream_id, Feedback}; an empty trace id or comment is left unset.
std::string feedbackFrame(uint64_t stream_id, const std::string& trace_id, double score, const std::string& comment = "",
                          const std::string& tenant = "");

// 8-byte aligned copy of a frame, as the daemon would hold it.
struct AlignedFrame {
  std::vector<uint64_t> words;
  size_t size = 0;
  explicit AlignedFrame(const std::string& bytes);
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(words.data()); }
};

}  // namespace outrigger::testing
