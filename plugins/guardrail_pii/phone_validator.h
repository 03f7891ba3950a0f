// Phone numbers through libphonenumber: a match is a phone number when it parses and is a valid
// number, in E.164 form (a leading '+') or in the national format of one of the configured
// regions. Thread-safe: PhoneNumberUtil is a process-wide immutable singleton.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace outrigger::pii {

class PhoneValidator {
 public:
  // `regions`: ISO 3166 codes ("US", "GB") for numbers written without a country code.
  explicit PhoneValidator(std::vector<std::string> regions);
  // True when `text` (digits and the separators " ().-", an optional leading '+') is a valid
  // number: 7 to 15 digits, and valid for its country (E.164) or for one of the regions.
  bool valid(std::string_view text) const;
  // A region code libphonenumber does not know.
  static bool knownRegion(const std::string& region);

 private:
  std::vector<std::string> regions_;
};

}  // namespace outrigger::pii
