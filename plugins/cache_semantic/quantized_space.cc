#include "quantized_space.h"

#include <emmintrin.h>  // SSE2: baseline x86-64, so the plugin runs on any of it

#include <cmath>
#include <cstring>

namespace outrigger::semantic {
namespace {

// Sixteen int8 products a step: each half sign-extended to int16, multiplied and pairwise added
// into int32 lanes (|127 * 127 * 2| fits).
int32_t dotInt8(const int8_t* a, const int8_t* b, size_t n) {
  __m128i acc = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i));
    __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
    __m128i alo = _mm_srai_epi16(_mm_unpacklo_epi8(va, va), 8), ahi = _mm_srai_epi16(_mm_unpackhi_epi8(va, va), 8);
    __m128i blo = _mm_srai_epi16(_mm_unpacklo_epi8(vb, vb), 8), bhi = _mm_srai_epi16(_mm_unpackhi_epi8(vb, vb), 8);
    acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(alo, blo), _mm_madd_epi16(ahi, bhi)));
  }
  int32_t lanes[4];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), acc);
  int32_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += int32_t(a[i]) * b[i];
  return sum;
}

}  // namespace

void quantize(const float* v, size_t dims, uint8_t* out) {
  float peak = 0;
  for (size_t i = 0; i < dims; ++i) peak = std::fmax(peak, std::fabs(v[i]));
  float scale = peak > 0 ? peak / 127.0f : 1.0f;
  std::memcpy(out, &scale, sizeof scale);
  auto* q = reinterpret_cast<int8_t*>(out + sizeof scale);
  for (size_t i = 0; i < dims; ++i) q[i] = int8_t(std::lround(v[i] / scale));
}

float quantizedDistance(const void* a, const void* b, const void* dims_ptr) {
  size_t dims = *static_cast<const size_t*>(dims_ptr);
  float sa, sb;
  std::memcpy(&sa, a, sizeof sa);
  std::memcpy(&sb, b, sizeof sb);
  int32_t dot = dotInt8(reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(a) + sizeof(float)),
                        reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(b) + sizeof(float)), dims);
  return 1.0f - sa * sb * float(dot);
}

}  // namespace outrigger::semantic
