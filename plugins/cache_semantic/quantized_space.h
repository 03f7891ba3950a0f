// The vectors an index holds: int8 with one float scale per vector (a quarter of float's
// memory, and a search reads memory more than it computes). The search ranks candidates by
// this approximate inner product; the store rescores the few it returns with the exact float
// vectors, so similarities and hits are exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace outrigger::semantic {

// Bytes of one quantized vector: the scale, then `dims` int8 values.
inline size_t quantizedBytes(size_t dims) { return sizeof(float) + dims; }

// `v` (dims floats) as a quantized vector into out[0..quantizedBytes(dims)).
void quantize(const float* v, size_t dims, uint8_t* out);

// 1 - the inner product of two quantized vectors; `dims` points at their size_t length.
float quantizedDistance(const void* a, const void* b, const void* dims);

// The int8 inner product kernels: SSE2 (every x86-64) and AVX2, chosen once at start-up by
// what the CPU supports. Tests compare them and the benchmark measures each.
enum class DotKernel { kSse2, kAvx2 };
int32_t dotInt8(DotKernel kernel, const int8_t* a, const int8_t* b, size_t n);
DotKernel activeDotKernel();
bool cpuHasAvx2();
// Switches the kernel quantizedDistance uses (false when the CPU lacks it); not thread-safe
// against running searches, for tests and benchmarks only.
bool setDotKernelForTest(DotKernel kernel);

}  // namespace outrigger::semantic
