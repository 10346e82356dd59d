#include "image/tiles_avx2.h"

#include <immintrin.h>

#define FACEID_AVX2 __attribute__((target("avx2,fma")))

namespace faceid::avx2 {
namespace {

// Eight uint8 values at p as floats.
FACEID_AVX2 inline __m256 load8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

}  // namespace

FACEID_AVX2 void blend_rows(const uint8_t* const* rows, const float* weights, int count, int length, float* out) {
  int i = 0;
  for (; i + 32 <= length; i += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int k = 0; k < count; ++k) {
      const uint8_t* p = rows[k] + i;
      const __m256 w = _mm256_set1_ps(weights[k]);
      a0 = _mm256_fmadd_ps(load8(p), w, a0);
      a1 = _mm256_fmadd_ps(load8(p + 8), w, a1);
      a2 = _mm256_fmadd_ps(load8(p + 16), w, a2);
      a3 = _mm256_fmadd_ps(load8(p + 24), w, a3);
    }
    _mm256_storeu_ps(out + i, a0);
    _mm256_storeu_ps(out + i + 8, a1);
    _mm256_storeu_ps(out + i + 16, a2);
    _mm256_storeu_ps(out + i + 24, a3);
  }
  for (; i + 8 <= length; i += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int k = 0; k < count; ++k) a = _mm256_fmadd_ps(load8(rows[k] + i), _mm256_set1_ps(weights[k]), a);
    _mm256_storeu_ps(out + i, a);
  }
  for (; i < length; ++i) {
    float a = 0.0f;
    for (int k = 0; k < count; ++k) a += weights[k] * static_cast<float>(rows[k][i]);
    out[i] = a;
  }
}

FACEID_AVX2 void resample_row(const float* row, const AxisFilter& filter, int begin, int end, const int order[3],
                              float scale, float shift, float* const planes[3]) {
  const int taps = filter.taps;
  const float* weight = filter.weight.data();
  const int* first = filter.first.data();
  const __m128 vscale = _mm_set1_ps(scale), vshift = _mm_set1_ps(shift);
  int x = begin;
  // Four output pixels at a time: each accumulates its (c0, c1, c2, junk) in one register, then a 4x4
  // transpose gives one register per channel.
  for (; x + 4 <= end; x += 4) {
    __m128 acc[4];
    for (int j = 0; j < 4; ++j) {
      const float* w = weight + static_cast<size_t>(x + j) * taps;
      const float* p = row + 3 * static_cast<size_t>(first[x + j]);
      __m128 a = _mm_setzero_ps();
      for (int k = 0; k < taps; ++k) a = _mm_fmadd_ps(_mm_set1_ps(w[k]), _mm_loadu_ps(p + 3 * k), a);
      acc[j] = a;
    }
    _MM_TRANSPOSE4_PS(acc[0], acc[1], acc[2], acc[3]);
    for (int c = 0; c < 3; ++c) _mm_storeu_ps(planes[c] + x, _mm_fmadd_ps(acc[order[c]], vscale, vshift));
  }
  for (; x < end; ++x) {
    const float* w = weight + static_cast<size_t>(x) * taps;
    const float* p = row + 3 * static_cast<size_t>(first[x]);
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < taps; ++k)
      for (int c = 0; c < 3; ++c) acc[c] += w[k] * p[3 * k + c];
    for (int c = 0; c < 3; ++c) planes[c][x] = acc[order[c]] * scale + shift;
  }
}

}  // namespace faceid::avx2
