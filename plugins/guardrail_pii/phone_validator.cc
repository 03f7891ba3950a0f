#include "phone_validator.h"

#include "validators.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumbermatch.h>
#include <phonenumbers/phonenumbermatcher.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <set>

namespace outrigger::pii {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberMatch;
using i18n::phonenumbers::PhoneNumberMatcher;
using i18n::phonenumbers::PhoneNumberUtil;

namespace {

bool isoDate(std::string_view t) {
  auto num = [&](size_t at, size_t n) {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return false;
  const int year = num(0, 4), month = num(5, 2), day = num(8, 2);
  return year >= 1900 && year <= 2099 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

}  // namespace

PhoneValidator::PhoneValidator(std::vector<std::string> regions) : regions_(std::move(regions)) {}

bool PhoneValidator::knownRegion(const std::string& region) {
  std::set<std::string> regions;
  PhoneNumberUtil::GetInstance()->GetSupportedRegions(&regions);
  return regions.count(region) > 0;
}

// PhoneNumberMatcher at STRICT_GROUPING, not a bare Parse + IsValidNumber: countries with
// variable-length numbers (DE, FR) would take an SSN (666-86-5731) or a dotted quad
// (60.39.152.60) as valid; the matcher also wants the digits grouped as the country writes them.
bool PhoneValidator::valid(std::string_view text) const {
  const size_t digits = static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }));
  if (digits < 7 || digits > 15) return false;
  // 123-45-6789 is how an SSN is written; no numbering plan groups digits 3-2-4 with dashes.
  if (text.size() == 11 && text[3] == '-' && text[6] == '-' && digits == 9) return false;
  // An ISO 8601 date (2024-08-04) is a date: no numbering plan writes a number 4-2-2 with
  // dashes and a month and day in range.
  if (isoDate(text)) return false;
  // A valid dotted quad is an IPv4 address; twelve or more bare digits without a country code
  // are an account or card number, not a national phone number.
  if (ipv4Valid(text)) return false;
  if (text.front() != '+' && digits >= 12 && digits == text.size()) return false;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  const std::string number(text);
  // The matcher accepts only a valid number, and a valid number has a possible length: parsing
  // and checking the length first costs a third of a match, and rules out most look-alikes
  // (dates, order numbers, card numbers) before it.
  auto possible = [&](const std::string& region) {
    PhoneNumber parsed;
    return util.Parse(number, region, &parsed) == PhoneNumberUtil::NO_PARSING_ERROR && util.IsPossibleNumber(parsed);
  };
  auto matchesWhole = [&](const std::string& region) {
    if (!possible(region)) return false;
    PhoneNumberMatcher matcher(util, number, region, PhoneNumberMatcher::STRICT_GROUPING, 1);
    PhoneNumberMatch match;
    return matcher.HasNext() && matcher.Next(&match) && match.start() == 0 &&
           static_cast<size_t>(match.length()) == number.size();
  };
  if (!text.empty() && text.front() == '+') return matchesWhole("ZZ");
  for (const std::string& region : regions_) {
    if (matchesWhole(region)) return true;
  }
  return false;
}

}  // namespace outrigger::pii
