// Rewrites the strings of a JSON text one at a time, decoded: tool-call arguments are JSON, and
// redacting their raw text split escapes ("Hi,\njane@corp.example" took the escape's 'n' into
// the address and left a lone backslash: invalid JSON) and put a caller's value back unescaped.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace outrigger::pii {

// Given a string decoded (a value, a key, or a number as written) and the key it sits under
// (the nearest enclosing member's, decoded; empty for a key and at the top), appends its
// replacement to `out`; false to stop (a detection error). The key is context some values need
// to be recognised: a bare 9-digit SSN is one under "ssn".
using StringRewrite = std::function<bool(std::string_view key, std::string_view text, std::string* out)>;

enum class JsonRewrite {
  kNotJson,     // `json` is not JSON: nothing was called
  kUnreadable,  // JSON RapidJSON cannot read (a number past a double's range, a lone surrogate
                // escape): nothing was called
  kStopped,  // `rewrite` returned false
  kDone,     // `*out` is `json` with every string rewritten; `json` itself when none changed
};

// Strings are values and keys; a number is offered as written and, if rewritten, becomes a
// string (a card number cannot stay a number once it is "<CREDIT_CARD_1>").
JsonRewrite rewriteJsonStrings(std::string_view json, const StringRewrite& rewrite, std::string* out);

}  // namespace outrigger::pii
