// Decoding and weighted NMS in double precision, cast to float32 at the end, like the numpy references.
#include "detect/blazeface.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace faceid::detect {
namespace {

void decode_row(const float* raw, const float* anchor, size_t num_keypoints, int input_size, float* box,
                float* keypoints) {
  const double centre_x = static_cast<double>(anchor[0]) * input_size;
  const double centre_y = static_cast<double>(anchor[1]) * input_size;
  const double cx = raw[0] + centre_x, cy = raw[1] + centre_y;
  const double half_w = static_cast<double>(raw[2]) / 2, half_h = static_cast<double>(raw[3]) / 2;
  box[0] = static_cast<float>(cx - half_w);
  box[1] = static_cast<float>(cy - half_h);
  box[2] = static_cast<float>(cx + half_w);
  box[3] = static_cast<float>(cy + half_h);
  for (size_t j = 0; j < num_keypoints; ++j) {
    keypoints[2 * j] = static_cast<float>(raw[4 + 2 * j] + centre_x);
    keypoints[2 * j + 1] = static_cast<float>(raw[5 + 2 * j] + centre_y);
  }
}

double area(const float* box) {
  return std::max(static_cast<double>(box[2]) - box[0], 0.0) * std::max(static_cast<double>(box[3]) - box[1], 0.0);
}

// IoU as faceid.ops.detect.box_iou: negative widths count as empty, 0 where the union is empty.
double iou(const float* a, const float* b) {
  const double inter_w = std::max(std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]), 0.0);
  const double inter_h = std::max(std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]), 0.0);
  const double inter = inter_w * inter_h;
  const double uni = area(a) + area(b) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// Score-weighted mean (plain mean when the scores sum to <= 0) of `width` values per member, appended to out.
void weighted_mean(const float* values, size_t width, const std::vector<size_t>& cluster, const float* scores,
                   std::vector<float>* out) {
  double total = 0;
  for (size_t i : cluster) total += scores[i];
  std::vector<double> weights(cluster.size(), 1.0);
  if (total > 0)
    for (size_t m = 0; m < cluster.size(); ++m) weights[m] = scores[cluster[m]] / total;
  const double weight_sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (size_t c = 0; c < width; ++c) {
    double sum = 0;
    for (size_t m = 0; m < cluster.size(); ++m) sum += values[cluster[m] * width + c] * weights[m];
    out->push_back(static_cast<float>(sum / weight_sum));
  }
}

}  // namespace

void decode_blazeface(const float* raw, const float* anchors, size_t count, size_t num_keypoints, int input_size,
                      float* boxes, float* keypoints) {
  const size_t row = 4 + 2 * num_keypoints;
  for (size_t i = 0; i < count; ++i)
    decode_row(raw + i * row, anchors + 2 * i, num_keypoints, input_size, boxes + 4 * i,
               keypoints + 2 * num_keypoints * i);
}

Detections blazeface_candidates(const float* raw, const float* logits, const float* anchors, size_t count,
                                size_t num_keypoints, int input_size, double score_threshold, double score_clip) {
  const size_t row = 4 + 2 * num_keypoints;
  Detections out;
  for (size_t i = 0; i < count; ++i) {
    const double logit = std::clamp(static_cast<double>(logits[i]), -score_clip, score_clip);
    const double score = 1.0 / (1.0 + std::exp(-logit));
    if (!(score >= score_threshold)) continue;
    out.scores.push_back(static_cast<float>(score));
    out.boxes.resize(out.boxes.size() + 4);
    out.keypoints.resize(out.keypoints.size() + 2 * num_keypoints);
    decode_row(raw + i * row, anchors + 2 * i, num_keypoints, input_size, out.boxes.data() + out.boxes.size() - 4,
               out.keypoints.data() + out.keypoints.size() - 2 * num_keypoints);
  }
  return out;
}

Detections weighted_nms(const float* boxes, const float* scores, const float* keypoints, size_t count,
                        size_t num_keypoints, double iou_threshold) {
  std::vector<size_t> remaining(count);
  std::iota(remaining.begin(), remaining.end(), size_t{0});
  std::stable_sort(remaining.begin(), remaining.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  const size_t kp_width = 2 * num_keypoints;
  Detections out;
  std::vector<size_t> cluster, rest;
  while (!remaining.empty()) {
    const size_t top = remaining[0];
    cluster.assign(1, top);  // a degenerate (zero-area) box still suppresses itself
    rest.clear();
    for (size_t r = 1; r < remaining.size(); ++r) {
      const size_t i = remaining[r];
      (iou(boxes + 4 * top, boxes + 4 * i) > iou_threshold ? cluster : rest).push_back(i);
    }
    weighted_mean(boxes, 4, cluster, scores, &out.boxes);
    weighted_mean(keypoints, kp_width, cluster, scores, &out.keypoints);
    out.scores.push_back(scores[top]);
    remaining.swap(rest);
  }
  return out;
}

}  // namespace faceid::detect
