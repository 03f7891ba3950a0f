// Vectorscan's scanning entry points, chosen once per plugin library, and the platform to compile
// databases for. (Scratch space and compiling are common to every build: call them directly.)
//
// Debian bookworm's Vectorscan 5.4.9 is a fat runtime: builds for core2, corei7, avx2 and avx512,
// one picked by the CPU when the library loads. Its avx512 build misses matches depending on
// where the text lies in memory: the e-mail pattern alone, in block mode, found nothing at 15 of
// 64 buffer alignments on an AVX-512 CPU, where the avx2 build found it at all 64 (upstream fixed
// AVX-512 accelerator tail bugs in 2026: vectorscan #375, #378). The fat library exports every
// build's entry points under the build's name (`avx2_hs_scan`), so on any CPU with AVX2 the
// guardrails call the avx2 build's (what the dispatcher picks there anyway, but for AVX-512 CPUs)
// and compile databases for what it runs. A library without those symbols (another build of
// Vectorscan, or Hyperscan), or a CPU without AVX2, is called through the public names.
#pragma once

#include <hs.h>

namespace outrigger::vectorscan {

struct Runtime {
  const char* build;  // "avx2", or "dispatched" (the library's own choice)
  decltype(&::hs_scan) scan;
  decltype(&::hs_open_stream) open_stream;
  decltype(&::hs_scan_stream) scan_stream;
  decltype(&::hs_close_stream) close_stream;
  // The CPU features databases are compiled for: the host's, less what the build cannot use.
  unsigned long long cpu_features_mask;
};

// [any] Chosen on the first call (x86 only; one build elsewhere).
const Runtime& runtime();

// [any] The host's platform as the chosen build runs it: pass it to hs_compile_multi.
hs_platform_info_t compilePlatform();

}  // namespace outrigger::vectorscan
