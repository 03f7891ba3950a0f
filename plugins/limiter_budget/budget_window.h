// The windows a budget is spent in: calendar days and months (UTC), or a rolling span of time.
// A window is kept as buckets: a calendar window is one bucket, a rolling window is split into
// up to kRollingBuckets buckets, each of which leaves the window as a whole. Times are Unix
// milliseconds; bucket starts are Unix seconds (what the store keeps).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace outrigger::budget {

enum class WindowKind { kDaily, kMonthly, kRolling };

constexpr int64_t kRollingBuckets = 60;

struct WindowSpec {
  WindowKind kind = WindowKind::kDaily;
  int64_t seconds = 0;  // rolling only: the window's length

  // The start (Unix seconds) of the bucket `now_ms` falls in.
  int64_t bucketStart(int64_t now_ms) const;
  // The length of a bucket that starts at `start` (a month's varies).
  int64_t bucketSeconds(int64_t start) const;
  // True when spending in the bucket starting at `start` still counts at `now_ms`.
  bool counts(int64_t start, int64_t now_ms) const;
  // When spending in the bucket starting at `start` stops counting (Unix ms): the calendar
  // window's end, or the bucket's end plus the rolling span.
  int64_t expiresMs(int64_t start) const;
  // "daily", "monthly", "rolling 3600 s": for messages.
  std::string describe() const;
};

// Parses "daily" | "monthly" | "rolling"; false for anything else.
bool parseWindowKind(std::string_view text, WindowKind* kind);

// Days since 1970-01-01 of a civil date, and back (proleptic Gregorian, UTC).
int64_t daysFromCivil(int64_t year, unsigned month, unsigned day);
void civilFromDays(int64_t days, int64_t* year, unsigned* month, unsigned* day);

// "2026-12-03T00:00:00Z" for Unix milliseconds (rounded down to the second).
std::string isoUtc(int64_t unix_ms);

}  // namespace outrigger::budget
