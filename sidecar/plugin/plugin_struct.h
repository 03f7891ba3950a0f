// Reading the structs a plugin passes to the host, whatever minor of ABI major 1 built it.
//
// A plugin's struct is as large as its header says (hdr.struct_size), which is smaller than
// today's sizeof once a later minor appends members. The host therefore never reads a plugin
// struct whole: it takes a copy bounded by struct_size, and everything downstream reads the copy.
#pragma once

#include <algorithm>
#include <cstring>

#include <outrigger/plugin.h>

namespace outrigger::plugin {

// Copies `*in` into `*out`, a struct of today's layout, when `in` is not NULL and its
// struct_size is at least `min_size` (the struct's oldest layout, an OUTRIGGER_MIN_SIZE_*);
// otherwise returns false and leaves `*out` alone. No byte past the plugin's struct_size is
// read: slots its minor lacks stay zero, which is why a tail slot must give zero the meaning
// "not set". The copy carries the host's own header, so a view the host passes on (a chunk to
// the guardrails) is whole for every reader.
template <class T>
[[nodiscard]] bool copyPluginStruct(const T* in, size_t min_size, T* out) {
  if (!in || in->hdr.struct_size < min_size) return false;
  *out = T{};
  std::memcpy(static_cast<void*>(out), in, std::min<size_t>(in->hdr.struct_size, sizeof(T)));
  out->hdr = OUTRIGGER_HEADER_INIT(T);
  return true;
}

}  // namespace outrigger::plugin
