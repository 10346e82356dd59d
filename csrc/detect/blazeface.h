// BlazeFace post-processing: anchor decoding, sigmoid scoring and MediaPipe's weighted NMS.
// Plain C++ on raw row-major float32 buffers (no Python here); numpy references live in
// python/faceid/ops/detect.py and every function below matches its reference.
#pragma once

#include <cstddef>
#include <vector>

namespace faceid::detect {

// Detections in row-major buffers: boxes (n, 4) xyxy, scores (n,), keypoints (n, k, 2) (x, y).
struct Detections {
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<float> keypoints;
  size_t size() const { return scores.size(); }
};

// raw (count, 4 + 2k) rows [dx, dy, w, h, kx0, ky0, ...] in input pixels, anchors (count, 2) centres in [0, 1]
// -> boxes (count, 4) xyxy and keypoints (count, k, 2) in pixels of the input_size network input.
void decode_blazeface(const float* raw, const float* anchors, size_t count, size_t num_keypoints, int input_size,
                      float* boxes, float* keypoints);

// decode_blazeface of the rows whose score sigmoid(clip(logit, -score_clip, score_clip)) >= score_threshold,
// in input order, with their scores.
Detections blazeface_candidates(const float* raw, const float* logits, const float* anchors, size_t count,
                                size_t num_keypoints, int input_size, double score_threshold, double score_clip);

// MediaPipe's weighted NMS: best score first (ties keep input order); each remaining detection with
// IoU > iou_threshold with the best joins its cluster, which becomes one detection with the score-weighted mean
// box and keypoints and the best member's score. Output best first.
Detections weighted_nms(const float* boxes, const float* scores, const float* keypoints, size_t count,
                        size_t num_keypoints, double iou_threshold);

}  // namespace faceid::detect
