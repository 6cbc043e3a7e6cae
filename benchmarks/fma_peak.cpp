// Peak FMA throughput of one core, the reference for "% of peak" in the GEMM benchmarks.
//
//   g++ -O2 -mavx512f -mfma benchmarks/fma_peak.cpp -o /tmp/fma_peak && /tmp/fma_peak
//
// Twelve independent chains of 512-bit FMAs per element type: more than latency x pipes
// (4 x 2 on AMD Zen 4/5, 4 x 2 on Intel server cores), so the FMA pipes never wait for a
// result. Prints the best of many short runs: on a machine shared with other jobs the best
// run is the one that had the core to itself. On an AMD Zen 5 (full-width 512-bit FMA):
// about 255 GFLOP/s float32 and 127 float64 per core (64 and 32 flops per cycle at ~4 GHz).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace {

template <typename V, typename F>
double chains(long iterations, V x, V y, V* out, F fma) {
  V a0 = out[0], a1 = out[1], a2 = out[2], a3 = out[3], a4 = out[4], a5 = out[5];
  V a6 = out[6], a7 = out[7], a8 = out[8], a9 = out[9], a10 = out[10], a11 = out[11];
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < iterations; ++i) {
    a0 = fma(x, y, a0), a1 = fma(x, y, a1), a2 = fma(x, y, a2), a3 = fma(x, y, a3);
    a4 = fma(x, y, a4), a5 = fma(x, y, a5), a6 = fma(x, y, a6), a7 = fma(x, y, a7);
    a8 = fma(x, y, a8), a9 = fma(x, y, a9), a10 = fma(x, y, a10), a11 = fma(x, y, a11);
  }
  const auto stop = std::chrono::steady_clock::now();
  // Keep every chain live (the sum is printed by the caller).
  out[0] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  return std::chrono::duration<double>(stop - start).count();
}

}  // namespace

int main() {
  const long iterations = 3'000'000;  // ~10 ms per run
  __m512 f[12];
  __m512d d[12];
  for (int i = 0; i < 12; ++i) f[i] = _mm512_set1_ps(float(i)), d[i] = _mm512_set1_pd(i);
  const auto fma_ps = [](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); };
  const auto fma_pd = [](__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); };
  double best32 = 0, best64 = 0;
  for (int run = 0; run < 300; ++run) {
    const double t32 =
        chains(iterations, _mm512_set1_ps(0.999999f), _mm512_set1_ps(1e-7f), f, fma_ps);
    const double t64 =
        chains(iterations, _mm512_set1_pd(0.999999), _mm512_set1_pd(1e-7), d, fma_pd);
    // 12 chains x (16 or 8 lanes) x 2 flops per FMA.
    best32 = std::max(best32, 12.0 * 16 * 2 * iterations / t32 / 1e9);
    best64 = std::max(best64, 12.0 * 8 * 2 * iterations / t64 / 1e9);
  }
  std::printf("peak per core: float32 %.1f GFLOP/s, float64 %.1f GFLOP/s (checksum %g)\n", best32,
              best64, double(f[0][0]) + d[0][0]);
  return 0;
}
