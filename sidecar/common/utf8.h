// UTF-8 checks for text that arrives from callers and leaves in JSON (records, provider bodies).
#pragma once

#include <cstddef>
#include <string_view>

namespace outrigger {

// True when `text` is well-formed UTF-8 (RapidJSON's validator: no overlongs, no surrogates).
bool validUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` that ends between code points; at least
// one code point when the text is not empty, so a caller splitting text always makes progress.
std::string_view utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace outrigger
