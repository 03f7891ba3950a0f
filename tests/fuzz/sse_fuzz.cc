// libFuzzer target for the providers' server-sent-events parser: besides not crashing, the events
// must not depend on where the network cut the stream. The first two bytes choose two cut points;
// the rest, fed whole and fed in three pieces, must give the same events and the same verdict.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "sse_parser.h"

namespace {

using outrigger::providers::SseEvent;
using outrigger::providers::SseParser;

bool same(const std::vector<SseEvent>& a, const std::vector<SseEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].event != b[i].event || a[i].data != b[i].data || a[i].id != b[i].id) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t a = text.empty() ? 0 : data[0] % (text.size() + 1);
  size_t b = text.empty() ? 0 : data[1] % (text.size() + 1);
  if (a > b) std::swap(a, b);
  constexpr size_t kBound = 4096;  // small, so the bound's refusal is reached too
  SseParser whole(kBound), pieces(kBound);
  std::vector<SseEvent> from_whole, from_pieces;
  bool whole_ok = whole.feed(text, from_whole);
  bool pieces_ok = pieces.feed(text.substr(0, a), from_pieces) && pieces.feed(text.substr(a, b - a), from_pieces) &&
                   pieces.feed(text.substr(b), from_pieces);
  if (whole_ok != pieces_ok) __builtin_trap();
  if (whole_ok && (!same(from_whole, from_pieces) || whole.midEvent() != pieces.midEvent())) __builtin_trap();
  return 0;
}
