// Judge calibration: how often a judge agrees with human labels. The labelled set is JSONL, one
// item a line: {"input": "..." (or "messages": [...]), "output": "...", "pass": true|false,
// "id": optional}. A judge whose agreement is below its min_agreement may not gate a run.
#pragma once

#include <string>
#include <vector>

#include "eval/judge.h"

namespace outrigger::eval {

struct Calibration {
  uint32_t total = 0, agreed = 0, errors = 0;
  double agreement = 0;  // agreed / (total - errors)
  std::vector<std::string> disagreements;  // ids (or line numbers) where judge and label differ
  std::string error;  // the labelled set could not be read
};

Calibration calibrate(const Judge& judge, const std::string& labels_path);

}  // namespace outrigger::eval
