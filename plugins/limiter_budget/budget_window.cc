#include "budget_window.h"

#include <algorithm>
#include <cstdio>

namespace outrigger::budget {
namespace {

constexpr int64_t kDay = 86400;

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t rollingWidth(int64_t seconds) { return std::max<int64_t>(1, seconds / kRollingBuckets); }

}  // namespace

// Howard Hinnant's algorithms (http://howardhinnant.github.io/date_algorithms.html).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = floorDiv(y, 400);
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

void civilFromDays(int64_t z, int64_t* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = floorDiv(z, 146097);
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = int64_t(yoe) + era * 400 + (*month <= 2);
}

int64_t WindowSpec::bucketStart(int64_t now_ms) const {
  int64_t now = floorDiv(now_ms, 1000);
  switch (kind) {
    case WindowKind::kDaily: return floorDiv(now, kDay) * kDay;
    case WindowKind::kMonthly: {
      int64_t y;
      unsigned m, d;
      civilFromDays(floorDiv(now, kDay), &y, &m, &d);
      return daysFromCivil(y, m, 1) * kDay;
    }
    case WindowKind::kRolling: break;
  }
  int64_t w = rollingWidth(seconds);
  return floorDiv(now, w) * w;
}

int64_t WindowSpec::bucketSeconds(int64_t start) const {
  switch (kind) {
    case WindowKind::kDaily: return kDay;
    case WindowKind::kMonthly: {
      int64_t y;
      unsigned m, d;
      civilFromDays(floorDiv(start, kDay), &y, &m, &d);
      int64_t next = m == 12 ? daysFromCivil(y + 1, 1, 1) : daysFromCivil(y, m + 1, 1);
      return next * kDay - start;
    }
    case WindowKind::kRolling: break;
  }
  return rollingWidth(seconds);
}

int64_t WindowSpec::expiresMs(int64_t start) const {
  int64_t end = start + bucketSeconds(start);
  return (kind == WindowKind::kRolling ? end + seconds : end) * 1000;
}

bool WindowSpec::counts(int64_t start, int64_t now_ms) const { return start * 1000 <= now_ms && now_ms < expiresMs(start); }

std::string WindowSpec::describe() const {
  switch (kind) {
    case WindowKind::kDaily: return "daily";
    case WindowKind::kMonthly: return "monthly";
    case WindowKind::kRolling: break;
  }
  return "rolling " + std::to_string(seconds) + " s";
}

bool parseWindowKind(std::string_view text, WindowKind* kind) {
  if (text == "daily") *kind = WindowKind::kDaily;
  else if (text == "monthly") *kind = WindowKind::kMonthly;
  else if (text == "rolling") *kind = WindowKind::kRolling;
  else return false;
  return true;
}

std::string isoUtc(int64_t unix_ms) {
  int64_t s = floorDiv(unix_ms, 1000);
  int64_t days = floorDiv(s, kDay), rest = s - days * kDay;
  int64_t y;
  unsigned m, d;
  civilFromDays(days, &y, &m, &d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                static_cast<long long>(rest % 60));
  return buf;
}

}  // namespace outrigger::budget
