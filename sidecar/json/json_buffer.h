// An output stream for RapidJSON's Writer that takes JSON text faster than its StringBuffer when
// the text is mostly short strings written through a writer passed around by reference (1.2x-1.3x
// on attribute objects in `unit_tests "json buffer: cost*"`, which times both in one run; 1.5x on
// a record's OTLP spans).
//
// Why: the Writer copies a string one character at a time (escaping as it goes). Into a
// StringBuffer each character is a store through a `char*`, which C++ lets alias anything, the
// buffer's own cursor included, so the compiler reloads and stores the cursor around every
// character. Here the text is stored as `char8_t`, which aliases nothing but `char8_t`: the
// cursor stays in a register for the whole string. The bytes are the same; view() reads them as
// `char` (which may read any object).
//
// Header-only, like bounded_json.h, for the daemon and the built-in plugins. RapidJSON finds
// PutReserve and PutUnsafe below by argument-dependent lookup, before its generic ones.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace outrigger::json {

class JsonBuffer {
 public:
  typedef char Ch;  // what RapidJSON's Writer writes

  JsonBuffer() = default;
  JsonBuffer(const JsonBuffer&) = delete;
  JsonBuffer& operator=(const JsonBuffer&) = delete;

  void Put(char c) {
    if (cur_ == end_) grow(1);
    *cur_++ = static_cast<char8_t>(c);
  }
  // After reserve(n): n characters fit.
  void PutUnsafe(char c) { *cur_++ = static_cast<char8_t>(c); }
  void reserve(size_t n) {
    if (static_cast<size_t>(end_ - cur_) < n) grow(n);
  }
  // Text copied as it is (no escaping): JSON the caller knows to be well formed.
  void append(const char* s, size_t n) {
    reserve(n);
    std::memcpy(cur_, s, n);
    cur_ += n;
  }
  void Flush() {}

  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_.get()), static_cast<size_t>(cur_ - data_.get())};
  }
  size_t size() const { return static_cast<size_t>(cur_ - data_.get()); }
  bool empty() const { return cur_ == data_.get(); }
  size_t capacity() const { return static_cast<size_t>(end_ - data_.get()); }
  // Empties the text and keeps the memory.
  void clear() { cur_ = data_.get(); }
  // Empties the text and frees the memory (a buffer kept for reuse after one huge text).
  void release() {
    data_.reset();
    cur_ = end_ = nullptr;
  }

 private:
  void grow(size_t n) {
    size_t used = size(), capacity = static_cast<size_t>(end_ - data_.get());
    // Doubles, or takes exactly what a large reservation needs (RapidJSON reserves six bytes a
    // character of a string, for escapes, so a huge string must not make it double past that).
    size_t wanted = std::max(capacity ? capacity * 2 : 256, used + n);
    std::unique_ptr<char8_t[]> bigger(new char8_t[wanted]);
    if (used) std::memcpy(bigger.get(), data_.get(), used);
    data_ = std::move(bigger);
    cur_ = data_.get() + used;
    end_ = data_.get() + wanted;
  }

  std::unique_ptr<char8_t[]> data_;
  char8_t* cur_ = nullptr;
  char8_t* end_ = nullptr;
};

inline void PutReserve(JsonBuffer& out, size_t count) { out.reserve(count); }
inline void PutUnsafe(JsonBuffer& out, char c) { out.PutUnsafe(c); }

}  // namespace outrigger::json
