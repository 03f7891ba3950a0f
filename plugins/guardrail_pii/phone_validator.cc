#include "phone_validator.h"

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <set>

namespace outrigger::pii {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

PhoneValidator::PhoneValidator(std::vector<std::string> regions) : regions_(std::move(regions)) {}

bool PhoneValidator::knownRegion(const std::string& region) {
  std::set<std::string> regions;
  PhoneNumberUtil::GetInstance()->GetSupportedRegions(&regions);
  return regions.count(region) > 0;
}

bool PhoneValidator::valid(std::string_view text) const {
  const size_t digits = static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }));
  if (digits < 7 || digits > 15) return false;
  const PhoneNumberUtil* util = PhoneNumberUtil::GetInstance();
  const std::string number(text);
  PhoneNumber parsed;
  if (!text.empty() && text.front() == '+') {
    return util->Parse(number, "ZZ", &parsed) == PhoneNumberUtil::NO_PARSING_ERROR && util->IsValidNumber(parsed);
  }
  for (const std::string& region : regions_) {
    parsed.Clear();
    if (util->Parse(number, region, &parsed) == PhoneNumberUtil::NO_PARSING_ERROR && util->IsValidNumber(parsed)) {
      return true;
    }
  }
  return false;
}

}  // namespace outrigger::pii
