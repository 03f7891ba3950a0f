// What a prompt hides from a human reader: invisible characters between letters or in runs, Unicode
// tag characters and runs of variation selectors (text no screen shows, which models still read),
// bidirectional controls, and base64
// or hex blocks that decode to readable text. The rules then run on what is visible and, separately,
// on each hidden text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::content {

struct TextSignals {
  std::string visible;               // the text without invisible, tag and bidi characters
  std::vector<std::string> hidden;   // tag-character text and decoded blocks, each readable
  size_t invisible_between_letters = 0;
  size_t invisible_runs = 0;         // four or more invisible characters in a row (bits spelled out)
  size_t selector_runs = 0;          // three or more variation selectors in a row (bytes spelled out)
  size_t tag_characters = 0;         // outside emoji flag sequences
  size_t bidi_controls = 0;
  size_t decoded_blocks = 0;         // base64 or hex blocks that decoded to readable text
};

// Limits keep a hostile prompt's cost linear: at most `max_blocks` candidates are decoded, each
// at most `max_block_bytes` long.
struct SignalLimits {
  size_t max_blocks = 16;
  size_t max_block_bytes = 64 * 1024;
};

TextSignals readSignals(std::string_view text, const SignalLimits& limits = {});

// True when `bytes` reads as text: valid UTF-8, mostly letters and spaces, with a space in it.
bool looksLikeText(std::string_view bytes);

}  // namespace outrigger::content
