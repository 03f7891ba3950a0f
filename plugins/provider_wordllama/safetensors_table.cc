#include "safetensors_table.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

#include "bounded_json.h"

namespace outrigger::wordllama {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit
constexpr uint64_t kMaxColumns = 65536;

// IEEE half to float: the exponent rebias handles normals; subnormals, zero, inf and NaN each
// take their own branch.
float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

bool readF16Table(const std::string& path, const std::string& tensor, Table* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return *error = "cannot open " + path, false;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t header_len = 0;
  if (bytes.size() < 8) return *error = path + ": too short", false;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > kMaxHeaderBytes || 8 + header_len > bytes.size()) return *error = path + ": bad header length", false;
  rapidjson::Document d;
  if (!json::parse(std::string_view(bytes).substr(8, header_len), &d) || !d.IsObject() || !d.HasMember(tensor.c_str()))
    return *error = path + ": no tensor \"" + tensor + "\"", false;
  const auto& t = d[tensor.c_str()];
  auto pair = [&](const char* name) {
    if (!t.IsObject()) return false;
    auto it = t.FindMember(name);
    return it != t.MemberEnd() && it->value.IsArray() && it->value.Size() == 2 && it->value[0].IsUint64() &&
           it->value[1].IsUint64();
  };
  auto dtype = t.IsObject() ? t.FindMember("dtype") : t.MemberEnd();
  if (!t.IsObject() || dtype == t.MemberEnd() || !dtype->value.IsString() ||
      std::string_view(dtype->value.GetString()) != "F16" || !pair("shape") || !pair("data_offsets"))
    return *error = path + ": \"" + tensor + "\" is not a 2-D F16 tensor", false;
  uint64_t rows = t["shape"][0].GetUint64(), cols = t["shape"][1].GetUint64();
  uint64_t begin = t["data_offsets"][0].GetUint64(), end = t["data_offsets"][1].GetUint64();
  uint64_t data = 8 + header_len, available = bytes.size() - data;
  // Each bound is checked before it is multiplied or added, so no crafted header can wrap the
  // sums below into a range that passes; an embedding wider than kMaxColumns is no word table.
  if (cols == 0 || cols > kMaxColumns || rows > available / (cols * 2) || end < begin || end > available ||
      end - begin != rows * cols * 2)
    return *error = path + ": tensor bytes do not match its shape", false;
  out->rows = rows;
  out->cols = cols;
  out->values.resize(rows * cols);
  const char* p = bytes.data() + data + begin;
  for (size_t i = 0; i < out->values.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out->values[i] = halfToFloat(h);
  }
  return true;
}

}  // namespace outrigger::wordllama
