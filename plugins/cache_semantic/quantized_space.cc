#include "quantized_space.h"

#include <emmintrin.h>  // SSE2: baseline x86-64, so the plugin runs on any of it
#include <immintrin.h>  // AVX2, compiled for its own function only and called when the CPU has it

#include <cmath>
#include <cstring>

namespace outrigger::semantic {
namespace {

// Sixteen int8 products a step: each half sign-extended to int16, multiplied and pairwise added
// into int32 lanes (|127 * 127 * 2| fits).
int32_t dotInt8Sse2(const int8_t* a, const int8_t* b, size_t n) {
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

// Thirty-two products a step: each 16-byte half sign-extended to sixteen int16 lanes
// (vpmovsxbw), multiplied and pairwise added into int32 lanes.
__attribute__((target("avx2"))) int32_t dotInt8Avx2(const int8_t* a, const int8_t* b, size_t n) {
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256i b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    __m256i a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 16)));
    __m256i b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 16)));
    acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(a0, b0), _mm256_madd_epi16(a1, b1)));
  }
  __m128i half = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  int32_t lanes[4];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), half);
  int32_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += int32_t(a[i]) * b[i];
  return sum;
}

using DotFunction = int32_t (*)(const int8_t*, const int8_t*, size_t);

DotFunction chooseDot() {
  __builtin_cpu_init();  // this runs during static initialisation, maybe before libgcc's own
  return __builtin_cpu_supports("avx2") ? &dotInt8Avx2 : &dotInt8Sse2;
}

// Chosen when the plugin loads: a plain load per distance, no initialisation guard.
DotFunction active_dot = chooseDot();

}  // namespace

bool cpuHasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

int32_t dotInt8(DotKernel kernel, const int8_t* a, const int8_t* b, size_t n) {
  return kernel == DotKernel::kAvx2 ? dotInt8Avx2(a, b, n) : dotInt8Sse2(a, b, n);
}

DotKernel activeDotKernel() { return active_dot == &dotInt8Avx2 ? DotKernel::kAvx2 : DotKernel::kSse2; }

bool setDotKernelForTest(DotKernel kernel) {
  if (kernel == DotKernel::kAvx2 && !cpuHasAvx2()) return false;
  active_dot = kernel == DotKernel::kAvx2 ? &dotInt8Avx2 : &dotInt8Sse2;
  return true;
}

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
  int32_t dot = active_dot(reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(a) + sizeof(float)),
                        reinterpret_cast<const int8_t*>(static_cast<const uint8_t*>(b) + sizeof(float)), dims);
  return 1.0f - sa * sb * float(dot);
}

}  // namespace outrigger::semantic
