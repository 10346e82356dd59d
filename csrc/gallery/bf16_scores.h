// bf16 dot products of a gallery against a batch of queries: the candidate pass of exact search.
//
// The gallery is kept (beside its float32 rows) as bf16 "panels": 16 rows at a time, laid out
// [panel][pair][16 rows][2 dims] (uint16, round-to-nearest-even from float32; an odd last dimension is padded
// with a zero), so one 64-byte load holds 16 rows x 2 dimensions, the operand of one vdpbf16ps. Scores are
// sums of exact bf16 x bf16 products accumulated in float32. bf16_candidates returns, per query, every row
// whose bf16 score is at least (the query's k-th best bf16 score) - margin: with a margin that bounds the bf16
// error (faceid.ops.gallery.bf16_margin), the exact top k is among them and an exact re-score finds it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faceid::gallery {

constexpr size_t kPanelRows = 16;

// Dimension pairs per row: ceil(dim / 2).
inline size_t bf16_pairs(size_t dim) { return (dim + 1) / 2; }
// uint16 values per panel.
inline size_t panel_size(size_t dim) { return bf16_pairs(dim) * kPanelRows * 2; }

// float32 -> bf16, round to nearest even (finite inputs).
inline uint16_t to_bf16(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, 4);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float from_bf16(uint16_t value) {
  uint32_t bits = static_cast<uint32_t>(value) << 16;
  float out;
  __builtin_memcpy(&out, &bits, 4);
  return out;
}

// Writes rows[i] (n rows of `dim` float32, finite) as bf16 into row positions[i] (distinct) of `panels` (which
// holds num_panels panels), on num_threads threads from 8192 rows. Throws ArgumentError for a position outside
// the panels or a value that is not finite in bf16 (the other rows may be written by then).
void pack_bf16_rows(const float* rows, size_t n, size_t dim, const int64_t* positions, uint16_t* panels,
                    size_t num_panels, int num_threads);

// Per query: the candidate rows (ascending) and their bf16 scores. offsets has batch + 1 entries; query q's
// candidates are rows[offsets[q]:offsets[q + 1]].
struct Candidates {
  std::vector<int64_t> offsets;
  std::vector<int64_t> rows;
  std::vector<float> scores;
};

// Rows [0, n_rows) of `panels` against `queries` (batch x dim float32, finite): every row whose bf16 score is
// >= (that query's k-th best bf16 score) - margins[q] (all rows when n_rows <= k). Work is split over
// num_threads worker threads (0, or fewer than 8192 rows: all in the calling thread). Uses the AVX512-BF16 kernel when
// simd::use_avx512_bf16(), else the scalar one (the same sums, possibly in another order).
Candidates bf16_candidates(const uint16_t* panels, size_t n_rows, size_t dim, const float* queries, size_t batch,
                           size_t k, const float* margins, int num_threads);

// bf16 scores of rows [0, n_rows) against the queries, (batch x n_rows) row-major: the tests' view of the
// kernels (the same tile code as bf16_candidates).
std::vector<float> bf16_scores(const uint16_t* panels, size_t n_rows, size_t dim, const float* queries,
                               size_t batch);

// The tile kernels (internal; shared by the scalar and AVX512 sources). One tile is 32 rows: the 16 rows of
// panel p0 then the 16 of p1 (p1 may equal p0 for a last odd panel; the caller masks those rows). q holds nq
// queries as bf16 pairs (uint32, the even dimension in the low half), `pairs` apart. scores[j * 32 + r] is
// query j's score of tile row r; masks[j] has bit r set when that score >= thresholds[j].
struct Tile {
  const uint16_t* p0;
  const uint16_t* p1;
  size_t pairs;
  const uint32_t* q;
  int nq;  // 1..kMaxTileQueries
  const float* thresholds;
  float* scores;
  uint32_t* masks;
};
constexpr int kMaxTileQueries = 12;
void score_tile_scalar(const Tile& tile);

}  // namespace faceid::gallery
