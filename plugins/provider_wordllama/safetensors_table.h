// Reads one 2-D fp16 tensor from a .safetensors file (an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range, then the raw data) and widens
// it to float.
#pragma once

#include <string>
#include <vector>

namespace outrigger::wordllama {

struct Table {
  std::vector<float> values;  // rows x cols, row-major
  size_t rows = 0, cols = 0;
};

// False with `*error` set when the file, the tensor or its layout is not as expected.
bool readF16Table(const std::string& path, const std::string& tensor, Table* out, std::string* error);

}  // namespace outrigger::wordllama
