// One request over a raw socket connection to the daemon, and everything its answer carried:
// the chunks, the end frame's status, message, content, finish reason and tool calls, and the
// verdict one guardrail recorded. For the guardrails' daemon tests.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "outrigger_generated.h"
#include "support/daemon_process.h"
#include "support/frames.h"

namespace outrigger::testing {

struct SocketAnswer {
  int status = -1;
  std::string message, content, streamed, finish_reason;
  std::vector<std::string> chunks;
  std::vector<std::pair<std::string, std::string>> tool_calls;  // name, arguments
  int verdict = -1;  // `guardrail`'s, -1 when it recorded none
  std::string verdict_reason;
};

inline SocketAnswer socketExchange(const DaemonProcess& d, const RequestSpec& spec, const std::string& guardrail) {
  RawConnection raw(d.socket());
  REQUIRE(raw.send(helloFrame()));
  REQUIRE(raw.readFrame());
  REQUIRE(raw.send(requestFrame(1, spec)));
  SocketAnswer a;
  while (auto f = raw.readFrame(std::chrono::seconds(10))) {
    const wire::Frame* frame = wire::GetSizePrefixedFrame(f->data());
    if (frame->body_type() == wire::Body::ResponseChunk) {
      const auto* c = frame->body_as_ResponseChunk();
      std::string delta = c->delta() ? c->delta()->str() : "";
      a.chunks.push_back(delta);
      a.streamed += delta;
      continue;
    }
    if (frame->body_type() != wire::Body::ResponseEnd) continue;
    const wire::ResponseEnd* e = frame->body_as_ResponseEnd();
    a.status = int(e->status());
    if (e->message()) a.message = e->message()->str();
    if (e->content()) a.content = e->content()->str();
    if (e->finish_reason()) a.finish_reason = e->finish_reason()->str();
    if (e->tool_calls()) {
      for (const auto* t : *e->tool_calls()) a.tool_calls.push_back({t->name()->str(), t->arguments()->str()});
    }
    if (e->verdicts()) {
      for (const auto* v : *e->verdicts()) {
        if (v->guardrail()->str() != guardrail) continue;
        a.verdict = int(v->verdict());
        a.verdict_reason = v->reason() ? v->reason()->str() : "";
      }
    }
    return a;
  }
  FAIL("no ResponseEnd; daemon log:\n" << d.log());
  return a;
}

// `text` as a JSON string literal (quotes, backslashes and newlines escaped).
inline std::string jsonQuoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace outrigger::testing
