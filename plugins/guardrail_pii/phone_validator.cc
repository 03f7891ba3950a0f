#include "phone_validator.h"

#include "validators.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumbermatch.h>
#include <phonenumbers/phonenumbermatcher.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <set>

namespace outrigger::pii {

using i18n::phonenumbers::PhoneNumberMatch;
using i18n::phonenumbers::PhoneNumberMatcher;
using i18n::phonenumbers::PhoneNumberUtil;

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
  // A valid dotted quad is an IPv4 address; twelve or more bare digits without a country code
  // are an account or card number, not a national phone number.
  if (ipv4Valid(text)) return false;
  if (text.front() != '+' && digits >= 12 && digits == text.size()) return false;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  const std::string number(text);
  auto matchesWhole = [&](const std::string& region) {
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
