// UTF-8 checks for text that arrives from callers and leaves in JSON (records, provider bodies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace simdjson {
class implementation;
}

namespace outrigger {

// True when `text` is well-formed UTF-8 (Unicode's definition: no overlongs, surrogates or code
// points past U+10FFFF), checked by simdjson.
bool validUtf8(std::string_view text);
// The simdjson implementation validUtf8 uses: one of those simdjson has for this CPU, never the
// stand-in that detects the CPU on each call.
const simdjson::implementation& utf8Validator();

// The longest prefix of `text` of at most `max_bytes` that ends between code points; at least
// one code point when the text is not empty, so a caller splitting text always makes progress.
std::string_view utf8Prefix(std::string_view text, size_t max_bytes);

// `text` with each maximal invalid subsequence replaced by U+FFFD, as Python's
// bytes.decode("utf-8", "replace") and the WHATWG decoder do: for text from outside (an
// upstream's error body) that is quoted on to callers, whose JSON must stay valid.
std::string utf8Replaced(std::string_view text);

// A code point (below U+110000, not a surrogate) as UTF-8, encoded by RapidJSON: how tools and
// tests write the characters they ask about.
std::string utf8Of(uint32_t code_point);

}  // namespace outrigger
