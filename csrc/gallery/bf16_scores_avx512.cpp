#include "gallery/bf16_scores_avx512.h"

#include <immintrin.h>

#define FACEID_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16")))

namespace faceid::gallery::avx512 {
namespace {

// 2 * NQ accumulators (the tile's two panels x NQ queries); per dimension pair two panel loads and NQ
// broadcasts of a query's pair, each feeding two vdpbf16ps. No horizontal sums: lane r of acc0[j] is query
// j's score of row r of panel p0.
template <int NQ>
FACEID_AVX512_BF16 void tile_kernel(const Tile& t) {
  __m512 acc0[NQ], acc1[NQ];
#pragma GCC unroll 12
  for (int j = 0; j < NQ; ++j) acc0[j] = acc1[j] = _mm512_setzero_ps();
  const uint16_t* p0 = t.p0;
  const uint16_t* p1 = t.p1;
  const uint32_t* q = t.q;
  const size_t pairs = t.pairs;
  for (size_t i = 0; i < pairs; ++i) {
    const __m512bh a0 = (__m512bh)_mm512_loadu_si512(p0 + 32 * i);
    const __m512bh a1 = (__m512bh)_mm512_loadu_si512(p1 + 32 * i);
#pragma GCC unroll 12
    for (int j = 0; j < NQ; ++j) {
      const __m512bh b = (__m512bh)_mm512_set1_epi32(static_cast<int>(q[j * pairs + i]));
      acc0[j] = _mm512_dpbf16_ps(acc0[j], a0, b);
      acc1[j] = _mm512_dpbf16_ps(acc1[j], a1, b);
    }
  }
#pragma GCC unroll 12
  for (int j = 0; j < NQ; ++j) {
    const __m512 threshold = _mm512_set1_ps(t.thresholds[j]);
    _mm512_storeu_ps(t.scores + 32 * j, acc0[j]);
    _mm512_storeu_ps(t.scores + 32 * j + 16, acc1[j]);
    const uint32_t low = _mm512_cmp_ps_mask(acc0[j], threshold, _CMP_GE_OQ);
    const uint32_t high = _mm512_cmp_ps_mask(acc1[j], threshold, _CMP_GE_OQ);
    t.masks[j] = low | (high << 16);
  }
}

}  // namespace

void score_tile(const Tile& tile) {
  switch (tile.nq) {
    case 1: return tile_kernel<1>(tile);
    case 2: return tile_kernel<2>(tile);
    case 3: return tile_kernel<3>(tile);
    case 4: return tile_kernel<4>(tile);
    case 5: return tile_kernel<5>(tile);
    case 6: return tile_kernel<6>(tile);
    case 7: return tile_kernel<7>(tile);
    case 8: return tile_kernel<8>(tile);
    case 9: return tile_kernel<9>(tile);
    case 10: return tile_kernel<10>(tile);
    case 11: return tile_kernel<11>(tile);
    default: return tile_kernel<12>(tile);
  }
}

}  // namespace faceid::gallery::avx512
