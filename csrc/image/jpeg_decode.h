// JPEG decoding through libjpeg-turbo, strict: corrupt-data warnings are errors, so a damaged
// training image is reported instead of silently decoded as grey blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace faceid {

bool looks_like_jpeg(const uint8_t* data, size_t size);

// Receives the decoded image one interleaved RGB row at a time.
class RowSink {
 public:
  virtual ~RowSink() = default;
  // Called once with the image size, before any row; may throw DecodeError to refuse the size.
  virtual void begin(int width, int height) = 0;
  virtual void row(const uint8_t* rgb, int y) = 0;
  // Sinks that also take planar rows (R, G, B as three arrays) let the decoder convert common
  // YCbCr layouts itself (see ycc_upsample.h); the pixels are the same either way.
  virtual bool accepts_planar() const { return false; }
  virtual void planar_row(const uint8_t* /*r*/, const uint8_t* /*g*/, const uint8_t* /*b*/, int /*y*/) {}
};

// Decodes `data` as RGB into `sink`; throws DecodeError with libjpeg's message on failure.
// The decoder state is reused between calls, so keep one per thread.
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
  void decode(const uint8_t* data, size_t size, RowSink* sink);

 private:
  struct State;
  void decode_planar(RowSink* sink);
  std::unique_ptr<State> state_;
};

// The calling thread's decoder.
JpegDecoder& thread_jpeg_decoder();

}  // namespace faceid
