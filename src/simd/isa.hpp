// What the current translation unit is compiled for. The avx2.cpp and avx512.cpp file of every
// kernel family gets its instruction-set flags from cmake/isa.cmake; on other targets or
// compilers the flags are absent and the file compiles to a stub whose table is null
// (common/dispatch.hpp then falls back to a lower path).
#pragma once

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__AVX2__) && defined(__FMA__)
#define REVCORE_TU_AVX2 1
#else
#define REVCORE_TU_AVX2 0
#endif

#if REVCORE_TU_AVX2 && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX512BW__)
#define REVCORE_TU_AVX512 1
#else
#define REVCORE_TU_AVX512 0
#endif
