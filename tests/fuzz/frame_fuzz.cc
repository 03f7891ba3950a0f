// libFuzzer target for the frame decoder: arbitrary bytes go through the framer, the verifier
// and a read of every field of every verified frame, as the daemon would read them.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "ipc/frame_reader.h"
#include "outrigger_generated.h"

namespace {

namespace w = outrigger::wire;

size_t g_sink = 0;  // keeps reads from being optimised away

void touch(const flatbuffers::String* s) {
  if (s) g_sink += s->size() + (s->size() ? static_cast<uint8_t>(s->c_str()[s->size() - 1]) : 0);
}

void readRequest(const w::Request* r) {
  if (!r) return;  // a union type without its value verifies; the daemon refuses it
  touch(r->model());
  if (const auto* msgs = r->messages()) {
    for (const auto* m : *msgs) {
      touch(m->role());
      touch(m->content());
      touch(m->name());
      touch(m->tool_call_id());
      if (const auto* calls = m->tool_calls()) {
        for (const auto* c : *calls) {
          touch(c->id());
          touch(c->name());
          touch(c->arguments());
        }
      }
    }
  }
  if (const auto* p = r->params()) {
    g_sink += p->temperature().has_value() + p->max_tokens().value_or(0);
    if (const auto* stop = p->stop()) for (const auto* s : *stop) touch(s);
    if (const auto* tools = p->tools()) for (const auto* t : *tools) touch(t->parameters_json());
    if (const auto* rf = p->response_format()) touch(rf->schema_json());
    touch(p->extra_json());
  }
  if (const auto* md = r->metadata()) {
    touch(md->tenant());
    touch(md->traceparent());
    if (const auto* tags = md->tags()) for (const auto* t : *tags) touch(t->value());
  }
  if (const auto* cc = r->cache()) g_sink += cc->ttl_ms();
}

bool readFrame(void*, const uint8_t* frame, size_t frame_size) {
  auto v = outrigger::ipc::verifyFrame(frame, frame_size);
  if (!v.ok()) {
    g_sink += outrigger::ipc::streamIdOfUnverifiedFrame(frame, frame_size);  // a bad body ends only its stream
    return true;
  }
  const w::Frame* f = v.value();
  g_sink += f->stream_id();
  if (f->body_type() == w::Body::Request) readRequest(f->body_as_Request());
  if (const auto* h = f->body_as_Hello()) touch(h->client_name());
  if (const auto* c = f->body_as_Cancel()) touch(c->reason());
  if (const auto* fb = f->body_as_Feedback()) touch(fb->trace_id());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  outrigger::ipc::PartialFrameBudget budget(1 << 20);
  outrigger::ipc::FrameReader reader(1 << 20, &budget);
  // Feed in two pieces, the second from an odd address, to exercise reassembly and realignment.
  size_t half = size / 2;
  if (reader.feed(reinterpret_cast<const char*>(data), half, &readFrame, nullptr) !=
      outrigger::ipc::FrameReader::Result::kOk) {
    return 0;
  }
  std::unique_ptr<char[]> rest(new char[size - half + 1]);
  std::memcpy(rest.get() + 1, data + half, size - half);
  reader.feed(rest.get() + 1, size - half, &readFrame, nullptr);
  return 0;
}
