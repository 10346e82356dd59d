#include "image/tiles.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "common/simd.h"
#ifdef FACEID_HAVE_X86_SIMD
#include "image/tiles_avx2.h"
#endif

namespace faceid {
namespace {

constexpr float kScale = 1.0f / 127.5f;
constexpr float kShift = -1.0f;   // x * kScale + kShift; a black canvas pixel (the padding) is kShift
constexpr int kBgrToRgb[3] = {2, 1, 0};  // output plane k (R, G, B) takes source channel kBgrToRgb[k]

struct Tap {
  int index;
  double weight;
};

// Per-output taps (consecutive indices inside [0, n)) as an AxisFilter with one tap count for all outputs.
AxisFilter pack(const std::vector<std::vector<Tap>>& taps, int n) {
  size_t most = 1;
  for (const auto& t : taps) most = std::max(most, t.size());
  AxisFilter filter;
  filter.taps = std::min(static_cast<int>(most), n);
  filter.first.resize(taps.size());
  filter.weight.assign(taps.size() * static_cast<size_t>(filter.taps), 0.0f);
  for (size_t i = 0; i < taps.size(); ++i) {
    int low = taps[i].empty() ? 0 : taps[i].front().index;
    for (const Tap& tap : taps[i]) low = std::min(low, tap.index);
    const int first = std::min(low, n - filter.taps);  // slide the window back inside [0, n)
    filter.first[i] = first;
    for (const Tap& tap : taps[i])
      filter.weight[i * filter.taps + (tap.index - first)] += static_cast<float>(tap.weight);
  }
  return filter;
}

void blend_rows(const uint8_t* const* rows, const float* weights, int count, int length, float* out) {
  std::fill(out, out + length, 0.0f);
  for (int k = 0; k < count; ++k) {
    const uint8_t* row = rows[k];
    const float w = weights[k];
    for (int i = 0; i < length; ++i) out[i] += w * static_cast<float>(row[i]);
  }
}

void resample_row(const float* row, const AxisFilter& filter, int begin, int end, const int order[3], float scale,
                  float shift, float* const planes[3]) {
  const int taps = filter.taps;
  for (int x = begin; x < end; ++x) {
    const float* w = filter.weight.data() + static_cast<size_t>(x) * taps;
    const float* p = row + 3 * static_cast<size_t>(filter.first[x]);
    float acc[3] = {0.0f, 0.0f, 0.0f};
    for (int k = 0; k < taps; ++k)
      for (int c = 0; c < 3; ++c) acc[c] += w[k] * p[3 * k + c];
    for (int c = 0; c < 3; ++c) planes[c][x] = acc[order[c]] * scale + shift;
  }
}

// One resize, the tiles cut from it and the part of it they cover (rows and columns [begin, end)).
struct ResizePlan {
  int height, width;
  AxisFilter rows, cols;
  std::vector<size_t> tiles;
  int row_begin, row_end, col_begin, col_end;
};

// A unit of work: the padding of one tile, or output rows [begin, end) of one resize.
struct WorkItem {
  bool padding;
  size_t index;  // the tile (padding) or the resize
  int begin, end;
};

class TileJob {
 public:
  TileJob(const uint8_t* image, int height, int width, const std::vector<TileCrop>& tiles, int size, float* out)
      : image_(image), height_(height), width_(width), tiles_(tiles), size_(size), out_(out),
        vector_(simd::use_avx2()) {}

  void plan(const std::vector<TileResize>& resizes, int threads);
  size_t count() const { return items_.size(); }
  void run(size_t item) const {
    const WorkItem& w = items_[item];
    if (w.padding)
      pad(tiles_[w.index], out_ + w.index * plane_size() * 3);
    else
      resize_rows(plans_[w.index], w.begin, w.end);
  }

 private:
  size_t plane_size() const { return static_cast<size_t>(size_) * size_; }
  void pad(const TileCrop& tile, float* planes) const;
  void resize_rows(const ResizePlan& plan, int begin, int end) const;

  const uint8_t* image_;
  int height_, width_;
  const std::vector<TileCrop>& tiles_;
  int size_;
  float* out_;
  bool vector_;
  std::vector<ResizePlan> plans_;
  std::vector<WorkItem> items_;
};

void TileJob::plan(const std::vector<TileResize>& resizes, int threads) {
  double total = 0.0;
  std::vector<double> cost;
  for (const TileResize& r : resizes) {
    ResizePlan p{r.height, r.width, {}, {}, {}, r.height, 0, r.width, 0};
    const bool shrinking = r.height < height_ || r.width < width_;  // as faceid.ops.detect._resize chooses
    p.rows = shrinking ? area_filter(height_, r.height) : linear_filter(height_, r.height);
    p.cols = shrinking ? area_filter(width_, r.width) : linear_filter(width_, r.width);
    cost.push_back(static_cast<double>(r.height) * (3.0 * width_ * p.rows.taps + 3.0 * r.width * p.cols.taps));
    total += cost.back();
    plans_.push_back(std::move(p));
  }
  for (size_t t = 0; t < tiles_.size(); ++t) {
    const TileCrop& tile = tiles_[t];
    ResizePlan& p = plans_[static_cast<size_t>(tile.resize)];
    p.tiles.push_back(t);
    p.row_begin = std::min(p.row_begin, tile.y0);
    p.row_end = std::max(p.row_end, tile.y0 + tile.height);
    p.col_begin = std::min(p.col_begin, tile.x0);
    p.col_end = std::max(p.col_end, tile.x0 + tile.width);
    items_.push_back({true, t, 0, 0});
  }
  // About eight bands per thread over all resizes, each resize's share by its cost; only the rows tiles use.
  for (size_t r = 0; r < plans_.size(); ++r) {
    const ResizePlan& p = plans_[r];
    const int rows = p.row_end - p.row_begin;
    if (rows <= 0) continue;  // no tile uses this resize
    const double share = total > 0 ? cost[r] / total : 1.0;
    const int bands = std::clamp(static_cast<int>(std::lround(share * 8.0 * threads)), 1, rows);
    for (int b = 0; b < bands; ++b)
      items_.push_back({false, r, p.row_begin + static_cast<int>(static_cast<int64_t>(rows) * b / bands),
                        p.row_begin + static_cast<int>(static_cast<int64_t>(rows) * (b + 1) / bands)});
  }
}

void TileJob::pad(const TileCrop& tile, float* planes) const {
  for (int c = 0; c < 3; ++c) {
    float* plane = planes + c * plane_size();
    const size_t s = static_cast<size_t>(size_);
    std::fill(plane, plane + tile.pad_y * s, kShift);
    std::fill(plane + (tile.pad_y + tile.height) * s, plane + s * s, kShift);
    for (int y = tile.pad_y; y < tile.pad_y + tile.height; ++y) {
      float* row = plane + y * s;
      std::fill(row, row + tile.pad_x, kShift);
      std::fill(row + tile.pad_x + tile.width, row + s, kShift);
    }
  }
}

void TileJob::resize_rows(const ResizePlan& plan, int begin, int end) const {
  const size_t length = 3 * static_cast<size_t>(width_);
  // The source columns the covered output columns read: only they are blended.
  const int taps = plan.cols.taps;
  const size_t src_begin = 3 * static_cast<size_t>(plan.cols.first[plan.col_begin]);
  const size_t src_end = 3 * static_cast<size_t>(plan.cols.first[plan.col_end - 1] + taps);
  std::vector<float> row(length + 4, 0.0f);  // the AVX2 pass reads one float past the last pixel
  std::vector<float> resized(3 * static_cast<size_t>(plan.width));
  float* const planes[3] = {resized.data(), resized.data() + plan.width, resized.data() + 2 * plan.width};
  std::vector<const uint8_t*> sources(static_cast<size_t>(plan.rows.taps));
  std::vector<float> weights(static_cast<size_t>(plan.rows.taps));
  const int blended = static_cast<int>(src_end - src_begin);
  for (int y = begin; y < end; ++y) {
    const bool used = std::any_of(plan.tiles.begin(), plan.tiles.end(), [&](size_t t) {
      return y >= tiles_[t].y0 && y < tiles_[t].y0 + tiles_[t].height;
    });
    if (!used) continue;
    int count = 0;  // the source rows with a non-zero weight
    for (int k = 0; k < plan.rows.taps; ++k) {
      const float w = plan.rows.weight[static_cast<size_t>(y) * plan.rows.taps + k];
      if (w == 0.0f) continue;
      sources[count] = image_ + static_cast<size_t>(plan.rows.first[y] + k) * length + src_begin;
      weights[count++] = w;
    }
#ifdef FACEID_HAVE_X86_SIMD
    if (vector_) {
      avx2::blend_rows(sources.data(), weights.data(), count, blended, row.data() + src_begin);
      avx2::resample_row(row.data(), plan.cols, plan.col_begin, plan.col_end, kBgrToRgb, kScale, kShift, planes);
    } else
#endif
    {
      blend_rows(sources.data(), weights.data(), count, blended, row.data() + src_begin);
      resample_row(row.data(), plan.cols, plan.col_begin, plan.col_end, kBgrToRgb, kScale, kShift, planes);
    }
    for (size_t t : plan.tiles) {
      const TileCrop& tile = tiles_[t];
      if (y < tile.y0 || y >= tile.y0 + tile.height) continue;
      float* dst = out_ + t * plane_size() * 3 + static_cast<size_t>(tile.pad_y + y - tile.y0) * size_ + tile.pad_x;
      for (int c = 0; c < 3; ++c)
        std::memcpy(dst + c * plane_size(), planes[c] + tile.x0, sizeof(float) * static_cast<size_t>(tile.width));
    }
  }
}

}  // namespace

AxisFilter area_filter(int src, int dst) {
  const double scale = 1.0 / (static_cast<double>(dst) / src);  // as OpenCV computes it
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(dst));
  for (int d = 0; d < dst; ++d) {
    // Output cell d covers [low, high) of the source; a source pixel's weight is its share of the cell.
    const double low = d * scale, high = low + scale;
    const double cell = std::min(scale, src - low);
    const int s2 = std::min(static_cast<int>(std::floor(high)), src - 1);
    const int s1 = std::min(static_cast<int>(std::ceil(low)), s2);
    auto& t = taps[static_cast<size_t>(d)];
    if (s1 - low > 1e-3) t.push_back({s1 - 1, (s1 - low) / cell});  // the partly covered pixel on the left
    for (int s = s1; s < s2; ++s) t.push_back({s, 1.0 / cell});
    if (high - s2 > 1e-3) t.push_back({s2, std::min(std::min(high - s2, 1.0), cell) / cell});
  }
  return pack(taps, src);
}

AxisFilter linear_filter(int src, int dst) {
  const double scale = 1.0 / (static_cast<double>(dst) / src);
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(dst));
  for (int d = 0; d < dst; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (s < 0) f = 0.0f, s = 0;
    if (s >= src - 1) f = 0.0f, s = src - 1;
    auto& t = taps[static_cast<size_t>(d)];
    t.push_back({s, 1.0 - f});
    if (f > 0.0f) t.push_back({s + 1, f});
  }
  return pack(taps, src);
}

void prepare_tiles(const uint8_t* image, int height, int width, const std::vector<TileResize>& resizes,
                   const std::vector<TileCrop>& tiles, int size, ThreadPool* pool, float* out) {
  TileJob job(image, height, width, tiles, size, out);
  job.plan(resizes, pool != nullptr ? std::max(1, pool->num_threads()) : 1);
  if (pool == nullptr) {
    for (size_t i = 0; i < job.count(); ++i) job.run(i);
    return;
  }
  pool->submit(job.count(), [&job](size_t item) { job.run(item); })->wait();
}

}  // namespace faceid
