#include "gallery/bf16_scores.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>

#include "common/check.h"
#include "common/simd.h"
#include "common/thread_pool.h"
#ifdef FACEID_HAVE_X86_SIMD
#include "gallery/bf16_scores_avx512.h"
#endif

namespace faceid::gallery {

namespace {

void pack_range(const float* rows, size_t first, size_t last, size_t dim, const int64_t* positions,
                uint16_t* panels, size_t num_panels) {
  const size_t pairs = bf16_pairs(dim), stride = panel_size(dim);
  for (size_t i = first; i < last; ++i) {
    const int64_t position = positions[i];
    FACEID_CHECK_ARG(position >= 0 && static_cast<size_t>(position) < num_panels * kPanelRows, "positions[", i,
                     "]: expected a row in [0, ", num_panels * kPanelRows, "), got ", position);
    const float* row = rows + i * dim;
    for (size_t d = 0; d < dim; ++d)
      FACEID_CHECK_ARG(std::isfinite(row[d]) && std::isfinite(from_bf16(to_bf16(row[d]))), "rows[", i, ", ", d,
                       "]: expected a finite value (in bf16 too), got ", row[d]);
    uint16_t* out = panels + (position / kPanelRows) * stride + (position % kPanelRows) * 2;
    for (size_t p = 0; p < pairs; ++p) {
      out[p * 2 * kPanelRows] = to_bf16(row[2 * p]);
      out[p * 2 * kPanelRows + 1] = 2 * p + 1 < dim ? to_bf16(row[2 * p + 1]) : uint16_t{0};
    }
  }
}

constexpr size_t kMinThreadedRows = 8192;  // below, threads cost more than they save

}  // namespace

void pack_bf16_rows(const float* rows, size_t n, size_t dim, const int64_t* positions, uint16_t* panels,
                    size_t num_panels, int num_threads) {
  const size_t count = num_threads <= 0 || n < kMinThreadedRows ? 1 : 4 * static_cast<size_t>(num_threads);
  ThreadPool pool(count > 1 ? num_threads : 0);
  pool.submit(count, [&](size_t part) {
        pack_range(rows, n * part / count, n * (part + 1) / count, dim, positions, panels, num_panels);
      })->wait();
}

// Scalar twin of avx512::score_tile: per lane, the pair's high product then its low one is added (the order
// vdpbf16ps documents; bf16 x bf16 products are exact in float32, so only the additions round).
void score_tile_scalar(const Tile& t) {
  for (int j = 0; j < t.nq; ++j) {
    const uint32_t* q = t.q + static_cast<size_t>(j) * t.pairs;
    float acc[32] = {};
    for (size_t i = 0; i < t.pairs; ++i) {
      const float q_low = from_bf16(static_cast<uint16_t>(q[i])), q_high = from_bf16(static_cast<uint16_t>(q[i] >> 16));
      const uint16_t* a0 = t.p0 + 32 * i;
      const uint16_t* a1 = t.p1 + 32 * i;
      for (size_t r = 0; r < kPanelRows; ++r) {
        acc[r] += from_bf16(a0[2 * r + 1]) * q_high;
        acc[r] += from_bf16(a0[2 * r]) * q_low;
        acc[r + 16] += from_bf16(a1[2 * r + 1]) * q_high;
        acc[r + 16] += from_bf16(a1[2 * r]) * q_low;
      }
    }
    uint32_t mask = 0;
    for (int r = 0; r < 32; ++r) {
      t.scores[32 * j + r] = acc[r];
      if (acc[r] >= t.thresholds[j]) mask |= uint32_t{1} << r;
    }
    t.masks[j] = mask;
  }
}

namespace {

using TileFn = void (*)(const Tile&);

TileFn tile_function() {
#ifdef FACEID_HAVE_X86_SIMD
  if (simd::use_avx512_bf16()) return avx512::score_tile;
#endif
  return score_tile_scalar;
}

// Queries as bf16 pairs (batch x pairs uint32, the even dimension in the low half).
std::vector<uint32_t> query_pairs(const float* queries, size_t batch, size_t dim) {
  const size_t pairs = bf16_pairs(dim);
  std::vector<uint32_t> out(batch * pairs);
  for (size_t b = 0; b < batch; ++b) {
    const float* q = queries + b * dim;
    for (size_t p = 0; p < pairs; ++p) {
      const uint32_t high = 2 * p + 1 < dim ? to_bf16(q[2 * p + 1]) : 0u;
      out[b * pairs + p] = to_bf16(q[2 * p]) | (high << 16);
    }
  }
  return out;
}

// Query groups of at most kMaxTileQueries, as even as possible: [start, end) pairs.
std::vector<std::pair<size_t, size_t>> query_groups(size_t batch) {
  const size_t count = (batch + kMaxTileQueries - 1) / kMaxTileQueries;
  std::vector<std::pair<size_t, size_t>> groups;
  for (size_t g = 0; g < count; ++g) groups.emplace_back(batch * g / count, batch * (g + 1) / count);
  return groups;
}

// One query's running state over a range of rows: a min-heap of its best k bf16 scores and every row that
// scored at least (the heap's minimum, once full) - margin when it was seen.
struct QueryState {
  std::vector<float> heap;
  std::vector<int64_t> rows;
  std::vector<float> scores;
  float threshold = -std::numeric_limits<float>::infinity();

  void offer(int64_t row, float score, size_t k, float margin) {
    if (score < threshold) return;
    rows.push_back(row);
    scores.push_back(score);
    if (heap.size() < k) {
      heap.push_back(score);
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    } else if (score > heap.front()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.back() = score;
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
    if (heap.size() == k) threshold = heap.front() - margin;
  }
};

struct Problem {
  const uint16_t* panels;
  size_t n_rows, pairs, stride, batch, k;
  const uint32_t* q;
  const float* margins;
  TileFn tile_fn;
};

// Tiles [first, last) (32 rows each) into states (one per query).
void scan_tiles(const Problem& pb, size_t first, size_t last, std::vector<QueryState>& states) {
  const size_t num_panels = (pb.n_rows + kPanelRows - 1) / kPanelRows;
  float scores[32 * kMaxTileQueries];
  uint32_t masks[kMaxTileQueries];
  float thresholds[kMaxTileQueries];
  const auto groups = query_groups(pb.batch);
  for (size_t tile = first; tile < last; ++tile) {
    const size_t panel = 2 * tile, base = tile * 32;
    const uint16_t* p0 = pb.panels + panel * pb.stride;
    const uint16_t* p1 = panel + 1 < num_panels ? p0 + pb.stride : p0;
    const uint32_t valid = pb.n_rows - base >= 32 ? ~uint32_t{0} : (uint32_t{1} << (pb.n_rows - base)) - 1;
    for (const auto& [start, end] : groups) {
      for (size_t j = start; j < end; ++j) thresholds[j - start] = states[j].threshold;
      Tile t{p0, p1, pb.pairs, pb.q + start * pb.pairs, static_cast<int>(end - start), thresholds, scores, masks};
      pb.tile_fn(t);
      for (size_t j = start; j < end; ++j) {
        for (uint32_t mask = masks[j - start] & valid; mask; mask &= mask - 1) {
          const int r = __builtin_ctz(mask);
          states[j].offer(static_cast<int64_t>(base + r), scores[32 * (j - start) + r], pb.k, pb.margins[j]);
        }
      }
    }
  }
}

// The candidates of all parts: each query's k-th best bf16 score over every part's heap, then the rows of
// each part (in part order, so ascending) that reach it minus the margin.
Candidates merge_parts(const std::vector<std::vector<QueryState>>& parts, size_t batch, size_t k,
                       const float* margins) {
  Candidates out;
  out.offsets.assign(1, 0);
  std::vector<float> best;
  for (size_t q = 0; q < batch; ++q) {
    best.clear();
    for (const auto& part : parts) best.insert(best.end(), part[q].heap.begin(), part[q].heap.end());
    float cut = -std::numeric_limits<float>::infinity();
    if (best.size() >= k) {
      std::nth_element(best.begin(), best.begin() + (k - 1), best.end(), std::greater<>());
      cut = best[k - 1] - margins[q];
    }
    for (const auto& part : parts) {
      const QueryState& s = part[q];
      for (size_t i = 0; i < s.rows.size(); ++i) {
        if (s.scores[i] >= cut) {
          out.rows.push_back(s.rows[i]);
          out.scores.push_back(s.scores[i]);
        }
      }
    }
    out.offsets.push_back(static_cast<int64_t>(out.rows.size()));
  }
  return out;
}

}  // namespace

Candidates bf16_candidates(const uint16_t* panels, size_t n_rows, size_t dim, const float* queries, size_t batch,
                           size_t k, const float* margins, int num_threads) {
  const std::vector<uint32_t> q = query_pairs(queries, batch, dim);
  const Problem pb{panels, n_rows, bf16_pairs(dim), panel_size(dim), batch, std::max<size_t>(k, 1), q.data(),
                   margins, tile_function()};
  const size_t tiles = (n_rows + 31) / 32;
  // A few parts per thread so a busy core does not hold the others up; each part has its own heaps.
  const size_t count = num_threads <= 0 || n_rows < kMinThreadedRows
                           ? 1
                           : std::min<size_t>(tiles, 4 * static_cast<size_t>(num_threads));
  std::vector<std::vector<QueryState>> parts(std::max<size_t>(count, 1), std::vector<QueryState>(batch));
  if (tiles > 0) {
    ThreadPool pool(count > 1 ? num_threads : 0);
    pool.submit(count, [&](size_t part) {
          scan_tiles(pb, tiles * part / count, tiles * (part + 1) / count, parts[part]);
        })->wait();
  }
  return merge_parts(parts, batch, pb.k, margins);
}

std::vector<float> bf16_scores(const uint16_t* panels, size_t n_rows, size_t dim, const float* queries,
                               size_t batch) {
  const std::vector<uint32_t> q = query_pairs(queries, batch, dim);
  const size_t pairs = bf16_pairs(dim), stride = panel_size(dim), num_panels = (n_rows + kPanelRows - 1) / kPanelRows;
  const TileFn tile_fn = tile_function();
  std::vector<float> out(batch * n_rows);
  float scores[32 * kMaxTileQueries], thresholds[kMaxTileQueries] = {};
  uint32_t masks[kMaxTileQueries];
  for (size_t base = 0; base < n_rows; base += 32) {
    const uint16_t* p0 = panels + (base / kPanelRows) * stride;
    const uint16_t* p1 = base / kPanelRows + 1 < num_panels ? p0 + stride : p0;
    for (const auto& [start, end] : query_groups(batch)) {
      tile_fn(Tile{p0, p1, pairs, q.data() + start * pairs, static_cast<int>(end - start), thresholds, scores, masks});
      for (size_t j = start; j < end; ++j)
        for (size_t r = 0; r < 32 && base + r < n_rows; ++r) out[j * n_rows + base + r] = scores[32 * (j - start) + r];
    }
  }
  return out;
}

}  // namespace faceid::gallery
