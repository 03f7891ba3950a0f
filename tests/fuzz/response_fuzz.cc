// libFuzzer target for the providers' answer decoders: arbitrary bytes become the 2xx unary body
// of an OpenAI chat completion, an OpenAI embeddings answer and an Anthropic message, the error
// body of every status the providers map, and the event stream of both dialects (parsed as
// server-sent events, and also as the data of one event).
// Besides not crashing (RapidJSON's assertions are on), it checks what the host relies on:
//  - a refusal or stream error is a failure with a code other than OK and a message;
//  - tool call deltas are numbered densely (the host grows its list to the highest index it is
//    given), and each Anthropic tool_use block starts a call of its own;
//  - Anthropic's usage keeps the cache reads and writes within prompt_tokens;
//  - embeddings are finite (the HTTP front writes them as JSON numbers);
//  - retry hints stay within their one-hour cap;
//  - every text that reaches the host is valid UTF-8, whatever the bytes (answers, tool calls, and
//    failure messages, which quote the upstream's message cut to a length and repaired): an
//    answer that is not UTF-8 does not parse;
//  - a stream fed whole and fed in small pieces decodes to the same deltas and summary.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "anthropic_wire.h"
#include "common/utf8.h"
#include "openai_wire.h"
#include "sse_parser.h"

namespace {

namespace oai = outrigger::providers::openai;
namespace ant = outrigger::providers::anthropic;
using outrigger::providers::Answer;
using outrigger::providers::DecodeStep;
using outrigger::providers::Failure;
using outrigger::providers::SseEvent;
using outrigger::providers::SseParser;
using outrigger::providers::StreamDelta;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void text(std::string_view s) { check(outrigger::validUtf8(s)); }

void expectFailure(const Failure& f) {
  check(f.code != OUTRIGGER_CODE_OK && !f.message.empty());
  check(f.retry_after_ms <= 3600u * 1000);
  text(f.message);
}

void expectAnswer(const Answer& a) {
  text(a.content);
  text(a.finish_reason);
  text(a.model);
  text(a.id);
  for (const auto& t : a.tool_calls) {
    text(t.id);
    text(t.type);
    text(t.name);
    text(t.arguments);
  }
}

// Anthropic reports prompt_tokens as the sum of fresh input, cache writes and cache reads.
void expectCacheWithinPrompt(const Answer& a) {
  check(a.usage.cached_tokens <= a.usage.prompt_tokens);
  check(uint64_t{a.usage.cached_tokens} + a.cache_write_tokens <= a.usage.prompt_tokens);
}

void unary(std::string_view body) {
  Answer a;
  Failure f;
  if (oai::parseChatResponse(body, &a, &f)) {
    expectAnswer(a);
    check(!a.refusal || a.finish_reason == "content_filter");
  } else {
    expectFailure(f);
  }

  Answer m;
  Failure mf;
  if (ant::parseMessagesResponse(body, &m, &mf)) {
    expectAnswer(m);
    expectCacheWithinPrompt(m);
    std::string_view r = m.finish_reason;
    check(r.empty() || r == "stop" || r == "length" || r == "tool_calls" || r == "content_filter");
  } else {
    expectFailure(mf);
  }

  for (size_t expected = 0; expected < 4; ++expected) {
    oai::Embeddings e;
    Failure ef;
    if (oai::parseEmbeddingsResponse(body, expected, &e, &ef)) {
      check(e.vectors.size() == expected);
      for (const auto& v : e.vectors)
        for (float x : v) check(std::isfinite(x));
      text(e.model);
    } else {
      expectFailure(ef);
    }
  }
}

void errors(std::string_view body) {
  // The first line doubles as the retry hints, which come from headers.
  std::string_view hint = body.substr(0, std::min(body.find('\n'), size_t{40}));
  const oai::ErrorHints variants[] = {{}, {hint, {}, "false"}, {{}, hint, "true"}};
  size_t turn = 0;
  for (int status : {400, 401, 402, 404, 418, 429, 500, 529}) {
    const auto& hints = variants[turn++ % 3];
    Failure o = oai::mapHttpError(status, body, hints, 1700000000);
    expectFailure(o);
    Failure a = ant::mapHttpError(status, body, hints, 1700000000);
    expectFailure(a);
    check(status != 402 || !a.retryable || hints.should_retry == "true");
  }
}

// What a stream decoded to, in the order the host saw it.
struct Transcript {
  std::vector<DecodeStep> steps;
  std::vector<StreamDelta> deltas;
  Failure failure;
  Answer summary;
  bool done = false;
  bool cut = false;  // the SSE parser's bound refused the stream
};

bool sameDeltas(const std::vector<StreamDelta>& x, const std::vector<StreamDelta>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].content != y[i].content || x[i].tool_calls.size() != y[i].tool_calls.size()) return false;
    for (size_t j = 0; j < x[i].tool_calls.size(); ++j) {
      const auto &a = x[i].tool_calls[j], &b = y[i].tool_calls[j];
      if (a.index != b.index || a.id != b.id || a.type != b.type || a.name != b.name || a.arguments != b.arguments) {
        return false;
      }
    }
  }
  return true;
}

bool same(const Transcript& x, const Transcript& y) {
  const Answer &a = x.summary, &b = y.summary;
  return x.steps == y.steps && sameDeltas(x.deltas, y.deltas) && x.failure.message == y.failure.message &&
         x.done == y.done && x.cut == y.cut && a.finish_reason == b.finish_reason && a.model == b.model &&
         a.id == b.id && a.refusal == b.refusal && a.has_usage == b.has_usage &&
         a.usage.prompt_tokens == b.usage.prompt_tokens && a.usage.completion_tokens == b.usage.completion_tokens &&
         a.usage.cached_tokens == b.usage.cached_tokens && a.cache_write_tokens == b.cache_write_tokens;
}

// Hands events to a decoder as the host's pump does (stopping at the first error), checking each
// step against the delta it came with.
template <typename Decoder, typename Decode>
void decodeEvents(const std::vector<SseEvent>& events, Decoder& decoder, Decode decode, bool anthropic,
                  Transcript* out) {
  uint32_t indices = 0;  // tool call indices handed out so far: 0 .. indices-1
  uint32_t starts = 0;   // Anthropic tool_use blocks started
  for (const SseEvent& ev : events) {
    StreamDelta delta;
    Failure failure;
    DecodeStep step = decode(decoder, ev, &delta, &failure);
    out->steps.push_back(step);
    check((step == DecodeStep::kDelta) == !delta.empty());
    if (step == DecodeStep::kError) {
      expectFailure(failure);
      out->failure = failure;
      break;
    }
    check(step != DecodeStep::kDone || decoder.done());
    text(delta.content);
    for (const auto& t : delta.tool_calls) {
      check(t.index <= indices);
      if (t.index == indices) ++indices;
      if (anthropic && !t.type.empty()) check(t.index == starts++);  // a tool_use start: a new call
      text(t.id);
      text(t.type);
      text(t.name);
      text(t.arguments);
    }
    out->deltas.push_back(std::move(delta));
  }
  out->summary = decoder.summary();
  out->done = decoder.done();
  expectAnswer(out->summary);
  if (anthropic) expectCacheWithinPrompt(out->summary);
}

template <typename Decoder, typename Decode>
Transcript decodeStream(std::string_view sse, size_t piece, Decode decode, bool anthropic) {
  SseParser parser(1 << 16);
  std::vector<SseEvent> events;
  Transcript t;
  for (size_t at = 0; at < sse.size() && !t.cut; at += piece) t.cut = !parser.feed(sse.substr(at, piece), events);
  Decoder decoder;
  decodeEvents(events, decoder, decode, anthropic, &t);
  return t;
}

void streams(std::string_view input) {
  auto openai = [](oai::StreamDecoder& d, const SseEvent& ev, StreamDelta* delta, Failure* f) {
    return d.decode(ev.data, delta, f);
  };
  auto anthropic = [](ant::StreamDecoder& d, const SseEvent& ev, StreamDelta* delta, Failure* f) {
    return d.decode(ev, delta, f);
  };
  // The input as the data of one event.
  {
    std::vector<SseEvent> one{{"", std::string(input), ""}};
    Transcript t;
    oai::StreamDecoder o;
    decodeEvents(one, o, openai, false, &t);
    Transcript u;
    ant::StreamDecoder a;
    decodeEvents(one, a, anthropic, true, &u);
  }
  // The input as an event stream, whole and in small pieces (single bytes for all but long inputs).
  size_t piece = input.size() <= 4096 ? 1 : 61;
  check(same(decodeStream<oai::StreamDecoder>(input, input.size() + 1, openai, false),
             decodeStream<oai::StreamDecoder>(input, piece, openai, false)));
  check(same(decodeStream<ant::StreamDecoder>(input, input.size() + 1, anthropic, true),
             decodeStream<ant::StreamDecoder>(input, piece, anthropic, true)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  unary(input);
  errors(input);
  streams(input);
  return 0;
}
