#include "validators.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace outrigger::pii {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool isLower(char c) { return c >= 'a' && c <= 'z'; }

int prefixOf(std::string_view digits, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n && i < digits.size(); ++i) v = v * 10 + (digits[i] - '0');
  return v;
}

bool lengthIn(size_t n, std::initializer_list<size_t> lengths) {
  return std::find(lengths.begin(), lengths.end(), n) != lengths.end();
}

// IBAN lengths by country (SWIFT IBAN registry).
struct IbanCountry {
  char code[3];
  uint8_t length;
};
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28},
    {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30},
    {"NL", 18}, {"NO", 15}, {"PK", 24}, {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22},
    {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}};

int ibanLength(std::string_view country) {
  for (const auto& c : kIbanCountries) {
    if (country == c.code) return c.length;
  }
  return 0;
}

int base64Value(char c) {
  if (isUpper(c)) return c - 'A';
  if (isLower(c)) return c - 'a' + 26;
  if (isDigit(c)) return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

}  // namespace

std::string digitsOf(std::string_view text) {
  std::string out;
  char sep = 0;
  for (char c : text) {
    if (isDigit(c)) {
      out.push_back(c);
    } else if (c == ' ' || c == '-') {
      if (sep && sep != c) return {};
      sep = c;
    } else {
      return {};
    }
  }
  return out;
}

bool luhnValid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

const char* cardScheme(std::string_view d) {
  const size_t n = d.size();
  const int p1 = prefixOf(d, 1), p2 = prefixOf(d, 2), p3 = prefixOf(d, 3), p4 = prefixOf(d, 4),
            p6 = prefixOf(d, 6);
  if (p1 == 4 && lengthIn(n, {13, 16, 19})) return "visa";
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16) return "mastercard";
  if ((p2 == 34 || p2 == 37) && n == 15) return "amex";
  if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925)) && n >= 16 && n <= 19) {
    return "discover";
  }
  if (p4 >= 3528 && p4 <= 3589 && n >= 16 && n <= 19) return "jcb";
  if ((p4 == 1800 || p4 == 2131) && n == 15) return "jcb";
  if (p2 == 62 && n >= 16 && n <= 19) return "unionpay";
  if (((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14 && n <= 16) return "diners";
  if ((p2 == 50 || (p2 >= 56 && p2 <= 69)) && n >= 12 && n <= 19) return "maestro";
  return nullptr;
}

bool cardValid(std::string_view text) {
  std::string d = digitsOf(text);
  if (d.size() < 12 || d.size() > 19) return false;
  // Separators, when present, sit between groups of at least 3 digits (4-4-4-4, 4-6-5 ...).
  size_t group = 0;
  for (char c : text) {
    if (isDigit(c)) {
      ++group;
    } else {
      if (group < 3) return false;
      group = 0;
    }
  }
  return cardScheme(d) != nullptr && luhnValid(d);
}

bool ibanValid(std::string_view text) {
  std::string s;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ') {
      if (i == 0 || text[i - 1] == ' ' || s.size() % 4 != 0) return false;  // print form: groups of 4
      continue;
    }
    if (!isDigit(c) && !isUpper(c)) return false;
    s.push_back(c);
  }
  if (s.size() < 15 || !isUpper(s[0]) || !isUpper(s[1]) || !isDigit(s[2]) || !isDigit(s[3])) return false;
  if (static_cast<int>(s.size()) != ibanLength(std::string_view(s).substr(0, 2))) return false;
  uint32_t mod = 0;
  auto feed = [&](char c) {
    if (isDigit(c)) {
      mod = (mod * 10 + static_cast<uint32_t>(c - '0')) % 97;
    } else {
      mod = (mod * 100 + static_cast<uint32_t>(c - 'A' + 10)) % 97;
    }
  };
  for (size_t i = 4; i < s.size(); ++i) feed(s[i]);
  for (size_t i = 0; i < 4; ++i) feed(s[i]);
  return mod == 1;
}

bool ssnValid(std::string_view text) {
  std::string d;
  if (text.size() == 11) {
    if (text[3] != text[6] || (text[3] != '-' && text[3] != ' ')) return false;
    d = std::string(text.substr(0, 3)) + std::string(text.substr(4, 2)) + std::string(text.substr(7, 4));
  } else if (text.size() == 9) {
    d = std::string(text);
  } else {
    return false;
  }
  if (!std::all_of(d.begin(), d.end(), isDigit)) return false;
  const int area = prefixOf(d, 3), group = prefixOf(d.substr(3), 2), serial = prefixOf(d.substr(5), 4);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  if (std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; })) return false;
  return d != "123456789" && d != "078051120" && d != "219099999";
}

bool emailValid(std::string_view text) {
  size_t at = text.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || text.find('@', at + 1) != std::string_view::npos) return false;
  std::string_view local = text.substr(0, at), domain = text.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  if (domain.size() > 253) return false;
  size_t labels = 0, start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    ++labels;
    if (dot == std::string_view::npos) {
      if (label.size() < 2 || !std::all_of(label.begin(), label.end(), [](char c) { return isUpper(c) || isLower(c); })) {
        return false;
      }
      break;
    }
    start = dot + 1;
  }
  return labels >= 2;
}

bool ipv4Valid(std::string_view text) {
  int parts = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = i;
    int value = 0;
    while (j < text.size() && isDigit(text[j]) && j - i < 4) value = value * 10 + (text[j++] - '0');
    if (j == i || j - i > 3 || value > 255 || (j - i > 1 && text[i] == '0')) return false;
    ++parts;
    if (j == text.size()) break;
    if (text[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

bool ipv6Valid(std::string_view text) {
  if (text.size() < 3 || text.size() > 45 || std::count(text.begin(), text.end(), ':') < 2) return false;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  unsigned char out[16];
  return inet_pton(AF_INET6, buf, out) == 1;
}

bool jwtValid(std::string_view text) {
  size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot < 4) return false;
  std::string header;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < dot && header.size() < 512; ++i) {
    int v = base64Value(text[i]);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      header.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return !header.empty() && header.front() == '{' && header.find("\"alg\"") != std::string::npos;
}

bool mixedCharset(std::string_view text) {
  bool upper = false, lower = false, digit = false;
  for (char c : text) {
    upper = upper || isUpper(c);
    lower = lower || isLower(c);
    digit = digit || isDigit(c);
  }
  return upper && lower && digit;
}

}  // namespace outrigger::pii
