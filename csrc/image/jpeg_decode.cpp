#include "image/jpeg_decode.h"

#include <csetjmp>
#include <cstdio>
#include <string>
#include <vector>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include "common/check.h"
#include "image/ycc_upsample.h"

namespace faceid {

bool looks_like_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

namespace {

struct ErrorManager {
  jpeg_error_mgr base;  // must come first: libjpeg sees only this part
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) mean corrupt data: treat them as errors. Trace messages are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

// The layouts whose upsampling YccConverter reproduces: YCbCr 4:4:4, 4:2:2 and 4:2:0 (libjpeg
// upsamples chroma no more than two samples wide without its triangle filter).
bool planar_path_fits(const jpeg_decompress_struct& c) {
  if (c.jpeg_color_space != JCS_YCbCr || c.num_components != 3 || c.CCIR601_sampling) return false;
  const jpeg_component_info* comp = c.comp_info;
  for (int i = 1; i < 3; ++i)
    if (comp[i].h_samp_factor != 1 || comp[i].v_samp_factor != 1) return false;
  const int h = comp[0].h_samp_factor, v = comp[0].v_samp_factor;
  if (!((h == 1 && v == 1) || (h == 2 && v == 1) || (h == 2 && v == 2))) return false;
  return h == 1 || comp[1].downsampled_width > 2;
}

}  // namespace

struct JpegDecoder::State {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  std::vector<uint8_t> row;
  std::vector<uint8_t> planes[3];  // planar path: Y, Cb, Cr as decoded
  std::vector<JSAMPROW> plane_rows[3];
  std::vector<uint8_t> rgb;  // planar path: one converted row, R then G then B
  YccConverter converter;
};

JpegDecoder::JpegDecoder() : state_(new State()) {
  state_->cinfo.err = jpeg_std_error(&state_->err.base);
  state_->err.base.error_exit = on_error;
  state_->err.base.emit_message = on_message;
  jpeg_create_decompress(&state_->cinfo);
}

JpegDecoder::~JpegDecoder() { jpeg_destroy_decompress(&state_->cinfo); }

void JpegDecoder::decode(const uint8_t* data, size_t size, RowSink* sink) {
  FACEID_CHECK_DATA(looks_like_jpeg(data, size), "not a JPEG (no SOI marker)");
  jpeg_decompress_struct* cinfo = &state_->cinfo;
  // Nothing with a destructor may live in this frame past setjmp: longjmp would skip it.
  std::string failure;
  bool sink_failed = false;
  if (setjmp(state_->err.jump)) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError(concat("corrupt JPEG: ", state_->err.message));
  }
  jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  cinfo->out_color_space = JCS_RGB;
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError("unsupported JPEG colour space (CMYK/YCCK)");
  }
  try {
    sink->begin(static_cast<int>(cinfo->image_width), static_cast<int>(cinfo->image_height));
  } catch (const std::exception& e) {
    failure = e.what();
    sink_failed = true;
  }
  if (sink_failed) {
    jpeg_abort_decompress(cinfo);
    throw DecodeError(failure);
  }
  if (sink->accepts_planar() && planar_path_fits(*cinfo)) {
    decode_planar(sink);
    return;
  }
  jpeg_start_decompress(cinfo);
  // Several rows per call: libjpeg-turbo upsamples chroma two rows at a time and copies through a
  // spare buffer when asked for a single row.
  constexpr int kRowsPerCall = 16;
  const size_t stride = static_cast<size_t>(cinfo->output_width) * cinfo->output_components;
  state_->row.resize(stride * kRowsPerCall);
  JSAMPROW rows[kRowsPerCall];
  for (int i = 0; i < kRowsPerCall; ++i) rows[i] = state_->row.data() + i * stride;
  while (cinfo->output_scanline < cinfo->output_height) {
    const int first = static_cast<int>(cinfo->output_scanline);
    const int got = static_cast<int>(jpeg_read_scanlines(cinfo, rows, kRowsPerCall));
    for (int i = 0; i < got; ++i) sink->row(rows[i], first + i);  // sinks that only write memory do not throw
  }
  jpeg_finish_decompress(cinfo);
}

// After jpeg_read_header on a layout planar_path_fits accepts; longjmps like decode() on errors.
void JpegDecoder::decode_planar(RowSink* sink) {
  jpeg_decompress_struct* cinfo = &state_->cinfo;
  cinfo->raw_data_out = TRUE;
  jpeg_start_decompress(cinfo);
  // Whole planes (widths padded to whole MCUs, heights to whole iMCU rows: libjpeg writes full blocks).
  size_t stride[3];
  for (int c = 0; c < 3; ++c) {
    const jpeg_component_info& comp = cinfo->comp_info[c];
    const int rows_per_call = comp.v_samp_factor * DCTSIZE;
    stride[c] = static_cast<size_t>(comp.width_in_blocks + comp.h_samp_factor) * DCTSIZE;
    state_->planes[c].resize(stride[c] * rows_per_call * cinfo->total_iMCU_rows);
    state_->plane_rows[c].resize(rows_per_call);
  }
  const JDIMENSION lines_per_call = cinfo->max_v_samp_factor * DCTSIZE;
  for (JDIMENSION imcu = 0; cinfo->output_scanline < cinfo->output_height; ++imcu) {
    JSAMPARRAY arrays[3];
    for (int c = 0; c < 3; ++c) {
      std::vector<JSAMPROW>& rows = state_->plane_rows[c];
      for (size_t i = 0; i < rows.size(); ++i)
        rows[i] = state_->planes[c].data() + (imcu * rows.size() + i) * stride[c];
      arrays[c] = rows.data();
    }
    jpeg_read_raw_data(cinfo, arrays, lines_per_call);
  }
  YccPlanes image;
  image.width = static_cast<int>(cinfo->output_width);
  image.height = static_cast<int>(cinfo->output_height);
  image.h_factor = cinfo->comp_info[0].h_samp_factor;
  image.v_factor = cinfo->comp_info[0].v_samp_factor;
  image.y = state_->planes[0].data();
  image.y_stride = stride[0];
  image.cb = state_->planes[1].data();
  image.cr = state_->planes[2].data();
  image.c_stride = stride[1];
  image.c_width = static_cast<int>(cinfo->comp_info[1].downsampled_width);
  image.c_height = static_cast<int>(cinfo->comp_info[1].downsampled_height);
  jpeg_finish_decompress(cinfo);
  const size_t width = static_cast<size_t>(image.width);
  state_->rgb.resize(3 * width);
  uint8_t* r = state_->rgb.data();
  for (int y = 0; y < image.height; ++y) {
    state_->converter.row(image, y, r, r + width, r + 2 * width);
    sink->planar_row(r, r + width, r + 2 * width, y);
  }
}

JpegDecoder& thread_jpeg_decoder() {
  thread_local JpegDecoder decoder;
  return decoder;
}

}  // namespace faceid
