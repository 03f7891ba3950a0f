#include "vectorscan_runtime.h"

// The avx2 build's entry points of a fat Vectorscan library. Weak: null when the library linked
// against does not export them.
extern "C" {
hs_error_t avx2_hs_scan(const hs_database_t*, const char*, unsigned int, unsigned int, hs_scratch_t*,
                        match_event_handler, void*) __attribute__((weak));
hs_error_t avx2_hs_open_stream(const hs_database_t*, unsigned int, hs_stream_t**) __attribute__((weak));
hs_error_t avx2_hs_scan_stream(hs_stream_t*, const char*, unsigned int, unsigned int, hs_scratch_t*,
                               match_event_handler, void*) __attribute__((weak));
hs_error_t avx2_hs_close_stream(hs_stream_t*, hs_scratch_t*, match_event_handler, void*) __attribute__((weak));
}

namespace outrigger::vectorscan {
namespace {

Runtime choose() {
  Runtime dispatched{"dispatched", &::hs_scan, &::hs_open_stream, &::hs_scan_stream, &::hs_close_stream, ~0ull};
#if defined(__x86_64__) || defined(__i386__)
  // Where the dispatcher picks avx2 anyway this changes nothing; where it would pick avx512,
  // it keeps the scans off that build.
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) return dispatched;
  if (!avx2_hs_scan || !avx2_hs_open_stream || !avx2_hs_scan_stream || !avx2_hs_close_stream) return dispatched;
  return {"avx2", &avx2_hs_scan, &avx2_hs_open_stream, &avx2_hs_scan_stream, &avx2_hs_close_stream,
          HS_CPU_FEATURES_AVX2};
#else
  return dispatched;  // one build on other architectures
#endif
}

}  // namespace

const Runtime& runtime() {
  static const Runtime chosen = choose();
  return chosen;
}

hs_platform_info_t compilePlatform() {
  hs_platform_info_t platform{};
  hs_populate_platform(&platform);
  platform.cpu_features &= runtime().cpu_features_mask;
  return platform;
}

}  // namespace outrigger::vectorscan
