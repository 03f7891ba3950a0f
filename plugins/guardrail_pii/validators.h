// Checks that turn a pattern match into a detection: checksums (Luhn, IBAN mod-97), number
// ranges (SSN areas, IPv4 octets), card schemes and lengths, and the syntax a pattern cannot
// say (e-mail labels, JWT headers). Pure functions over ASCII text, no allocation on the
// common path, usable without the daemon.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace outrigger::pii {

// The digits of `text`, dropping separators (space and '-'); empty when another character or
// mixed separators appear.
std::string digitsOf(std::string_view text);

// Luhn over a digit string (no separators).
bool luhnValid(std::string_view digits);

// The card scheme a digit string belongs to by its prefix and length ("visa", "mastercard",
// "amex", "discover", "jcb", "maestro", "unionpay", "diners"), or nullptr.
const char* cardScheme(std::string_view digits);

// A payment card: consistent separators, a known scheme and length, and a valid Luhn digit.
bool cardValid(std::string_view text);

// An IBAN, with or without the spaces of its print form: a known country, that country's
// length, and mod-97 == 1.
bool ibanValid(std::string_view text);

// A US SSN (123-45-6789, 123 45 6789 or 123456789): area not 000, 666 or 9xx, group not 00,
// serial not 0000, and not one of the numbers published as examples.
bool ssnValid(std::string_view text);

// An e-mail address: local part of 1-64 characters without leading, trailing or doubled dots;
// domain labels of 1-63 alphanumerics and inner hyphens; an alphabetic top-level domain.
bool emailValid(std::string_view text);

bool ipv4Valid(std::string_view text);  // dotted quad, octets 0-255, no leading zeros
bool ipv6Valid(std::string_view text);  // what inet_pton accepts, with at least two colons

// A JSON Web Token: three base64url parts whose first decodes to a JSON object with "alg".
bool jwtValid(std::string_view text);

// A secret-looking token: upper and lower case letters and digits all present.
bool mixedCharset(std::string_view text);

}  // namespace outrigger::pii
