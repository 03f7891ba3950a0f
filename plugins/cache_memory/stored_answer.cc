#include "stored_answer.h"

#include <cstdint>
#include <cstring>

#include "common/utf8.h"

namespace outrigger::cache {

namespace {

constexpr uint8_t kVersion = 1;
constexpr uint32_t kMaxToolCalls = 4096;

std::string_view text(outrigger_str s) { return s.size ? std::string_view(s.data, s.size) : std::string_view(); }

void putU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), sizeof v); }
void putText(std::string* out, std::string_view s) {
  putU32(out, uint32_t(s.size()));
  out->append(s);
}

// Reads what putU32/putText wrote; any read past the end makes the value undecodable.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u32(uint32_t* v) {
    if (in_.size() < sizeof *v) return false;
    std::memcpy(v, in_.data(), sizeof *v);
    in_.remove_prefix(sizeof *v);
    return true;
  }
  bool text(std::string* s) {
    uint32_t n = 0;
    if (!u32(&n) || in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool u8(uint8_t* v) {
    if (in_.empty()) return false;
    *v = uint8_t(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

bool worthStoring(const outrigger_response_view& response) {
  return text(response.finish_reason) != "length";
}

StoredAnswer storedFrom(std::string key, const outrigger_response_view& r) {
  StoredAnswer a;
  a.key = std::move(key);
  a.key.shrink_to_fit();  // built with room to spare (canonicalKey), kept for as long as the entry
  a.content.assign(text(r.content));
  a.finish_reason.assign(text(r.finish_reason));
  a.model.assign(text(r.model));
  for (size_t i = 0; i < r.tool_call_count; ++i) {
    const auto& c = r.tool_calls[i];
    a.tool_calls.push_back({std::string(text(c.id)), std::string(text(c.type)), std::string(text(c.name)),
                            std::string(text(c.arguments))});
  }
  a.usage = r.usage;
  return a;
}

namespace {

// What a string holds on the heap: nothing while it fits in the object (15 bytes in libstdc++).
size_t heapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

}  // namespace

size_t storedBytes(const StoredAnswer& a) {
  // The answer's own object, and the cache's per-entry nodes around it (its LRU list node and
  // index node and bucket, with their allocator headers).
  constexpr size_t kNodes = 96;
  size_t n = sizeof(StoredAnswer) + kNodes + heapBytes(a.key) + heapBytes(a.content) + heapBytes(a.finish_reason) +
             heapBytes(a.model) + a.tool_calls.capacity() * sizeof(StoredToolCall);
  for (const auto& c : a.tool_calls) n += heapBytes(c.id) + heapBytes(c.type) + heapBytes(c.name) + heapBytes(c.arguments);
  return n;
}

void answerHit(const plugin::Host& host, outrigger_request request, const StoredAnswer& a) {
  using plugin::str;
  std::vector<outrigger_tool_call_view> calls;
  for (const auto& c : a.tool_calls) calls.push_back({str(c.id), str(c.type), str(c.name), str(c.arguments)});
  outrigger_response_view r = plugin::makeResponse();
  r.content = str(a.content);
  r.finish_reason = str(a.finish_reason);
  r.model = str(a.model);
  r.tool_calls = calls.data();
  r.tool_call_count = calls.size();
  r.usage = a.usage;
  r.usage.cached_tokens = a.usage.prompt_tokens;
  r.cost_usd = 0;  // a hit costs nothing upstream
  host.cacheDone(request, &r);
}

std::string encodeAnswer(const StoredAnswer& a) {
  std::string out;
  out += char(kVersion);
  putText(&out, a.key);
  putText(&out, a.content);
  putText(&out, a.finish_reason);
  putText(&out, a.model);
  putU32(&out, uint32_t(a.tool_calls.size()));
  for (const auto& c : a.tool_calls) {
    putText(&out, c.id);
    putText(&out, c.type);
    putText(&out, c.name);
    putText(&out, c.arguments);
  }
  putU32(&out, a.usage.prompt_tokens);
  putU32(&out, a.usage.completion_tokens);
  putU32(&out, a.usage.cached_tokens);
  putU32(&out, a.usage.reasoning_tokens);
  return out;
}

std::optional<StoredAnswer> decodeAnswer(std::string_view value) {
  Reader in(value);
  StoredAnswer a;
  uint8_t version = 0;
  uint32_t calls = 0;
  if (!in.u8(&version) || version != kVersion) return std::nullopt;
  if (!in.text(&a.key) || !in.text(&a.content) || !in.text(&a.finish_reason) || !in.text(&a.model)) return std::nullopt;
  if (!in.u32(&calls) || calls > kMaxToolCalls) return std::nullopt;
  for (uint32_t i = 0; i < calls; ++i) {
    StoredToolCall c;
    if (!in.text(&c.id) || !in.text(&c.type) || !in.text(&c.name) || !in.text(&c.arguments)) return std::nullopt;
    a.tool_calls.push_back(std::move(c));
  }
  if (!in.u32(&a.usage.prompt_tokens) || !in.u32(&a.usage.completion_tokens) || !in.u32(&a.usage.cached_tokens) ||
      !in.u32(&a.usage.reasoning_tokens) || !in.done()) {
    return std::nullopt;
  }
  // What a hit serves must be UTF-8, as a provider's answer is: a value damaged inside its text
  // (the key is binary, and compared whole) is a miss too.
  bool utf8 = validUtf8(a.content) && validUtf8(a.finish_reason) && validUtf8(a.model);
  for (const auto& c : a.tool_calls) {
    utf8 = utf8 && validUtf8(c.id) && validUtf8(c.type) && validUtf8(c.name) && validUtf8(c.arguments);
  }
  if (!utf8) return std::nullopt;
  return a;
}

}  // namespace outrigger::cache
