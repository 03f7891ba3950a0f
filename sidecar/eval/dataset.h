// The dataset: JSONL, one case a line. Fields of a case:
//   id                 string (default: "line-N")
//   messages           [{role, content}], or
//   prompt + vars      a template whose {{name}} placeholders take vars' values (sent as one
//                      user message; `system` adds a system message)
//   expected           the expected output or reference answer (alias: reference, ideal)
//   expected_tool_calls [{name, arguments}]
//   tags               [string]; metadata {string: string}
//   tools, response_format  sent to the target as the OpenAI fields
//   extra              a JSON object of provider-specific fields sent with the request
// Blank lines and lines starting with '#' are skipped.
#pragma once

#include <string>
#include <vector>

#include "eval/eval_types.h"

namespace outrigger::eval {

// Reads every case; false with `error` naming the line on the first bad one.
[[nodiscard]] bool readDataset(const std::string& path, std::vector<EvalCase>* cases, std::string* error);
// Parses one line (number `line_no`, for messages and the default id).
[[nodiscard]] bool parseCase(const std::string& line, size_t line_no, EvalCase* out, std::string* error);
// Replaces each {{name}} with vars[name]; an unknown name is an error.
[[nodiscard]] bool renderTemplate(const std::string& tmpl, const std::map<std::string, std::string>& vars,
                                  std::string* out, std::string* error);

}  // namespace outrigger::eval
