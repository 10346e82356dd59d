#include "image/batch_decoder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/check.h"
#include "image/jpeg_decode.h"
#include "formats/kvbin.h"

namespace faceid {
namespace {

bool has_bin_suffix(const std::string& path) {
  if (path.size() < 4) return false;
  const char* s = path.c_str() + path.size() - 4;
  return s[0] == '.' && (s[1] | 0x20) == 'b' && (s[2] | 0x20) == 'i' && (s[3] | 0x20) == 'n';
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

// Writes decoded rows into one slot of the batch, refusing images of the wrong size.
class SlotSink : public RowSink {
 public:
  SlotSink(const BatchOutput& out, size_t slot, bool flip, const Normalizer& norm)
      : out_(out), flip_(flip), norm_(norm),
        dest_(static_cast<uint8_t*>(out.data) + slot * out.sample_bytes()) {}
  void begin(int width, int height) override {
    FACEID_CHECK_DATA(width == out_.width && height == out_.height, "image is ", width, "x", height,
                      ", expected ", out_.width, "x", out_.height);
  }
  void row(const uint8_t* rgb, int y) override {
    write_row_chw(rgb, y, out_.width, static_cast<size_t>(out_.height) * out_.width, flip_, false, norm_, out_.type,
                  dest_);
  }
  bool accepts_planar() const override { return true; }
  void planar_row(const uint8_t* r, const uint8_t* g, const uint8_t* b, int y) override {
    write_planar_row_chw(r, g, b, y, out_.width, static_cast<size_t>(out_.height) * out_.width, flip_, norm_,
                         out_.type, dest_);
  }

 private:
  const BatchOutput& out_;
  bool flip_;
  const Normalizer& norm_;
  uint8_t* dest_;
};

}  // namespace

void read_file(const std::string& path, std::vector<uint8_t>* buffer) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FACEID_CHECK_DATA(fd >= 0, "cannot open: ", std::strerror(errno));
  FdCloser closer{fd};
  struct stat info {};
  FACEID_CHECK_DATA(::fstat(fd, &info) == 0, "cannot stat: ", std::strerror(errno));
  FACEID_CHECK_DATA(S_ISREG(info.st_mode), "not a regular file");
  const size_t size = static_cast<size_t>(info.st_size);
  FACEID_CHECK_DATA(size <= kMaxImageFileBytes, "file is ", size, " bytes, more than the ", kMaxImageFileBytes,
                    " allowed for one image");
  buffer->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::read(fd, buffer->data() + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    FACEID_CHECK_DATA(got > 0, "read failed after ", done, " of ", size, " bytes");
    done += static_cast<size_t>(got);
  }
}

BatchDecoder::BatchDecoder(std::vector<std::string> paths, int num_threads, const Normalizer& norm)
    : paths_(std::move(paths)), norm_(norm), pool_(num_threads) {}

std::shared_ptr<DecodeJob> BatchDecoder::submit(std::vector<int64_t> indices, std::vector<uint8_t> flips,
                                                BatchOutput out) {
  FACEID_CHECK_ARG(indices.size() == flips.size(), "indices and flips differ in length: ", indices.size(), " vs ",
                   flips.size());
  for (int64_t index : indices)
    FACEID_CHECK_ARG(index >= 0 && static_cast<size_t>(index) < paths_.size(), "sample index ", index,
                     " out of range [0, ", paths_.size(), ")");
  auto job = std::make_shared<DecodeJob>();
  const size_t n = indices.size();
  job->indices_ = std::move(indices);
  job->flips_ = std::move(flips);
  job->codes_.assign(n, static_cast<uint8_t>(DecodeStatus::kOk));
  job->messages_.assign(n, std::string());
  job->out_ = out;
  DecodeJob* raw = job.get();
  job->job_ = pool_.submit(n, [this, raw](size_t slot) { decode_one(raw, slot); });
  return job;
}

void BatchDecoder::decode_one(DecodeJob* job, size_t slot) const {
  thread_local std::vector<uint8_t> file;
  thread_local std::string converted;
  const std::string& path = paths_[static_cast<size_t>(job->indices_[slot])];
  try {
    read_file(path, &file);
    ByteView image{file.data(), file.size()};
    if (has_bin_suffix(path)) image = parse_kv_record(file.data(), file.size(), &converted);
    if (!looks_like_jpeg(image.data, image.size)) {
      job->codes_[slot] = static_cast<uint8_t>(DecodeStatus::kNotJpeg);
      return;
    }
    SlotSink sink(job->out_, slot, job->flips_[slot] != 0, norm_);
    thread_jpeg_decoder().decode(image.data, image.size, &sink);
  } catch (const std::exception& e) {
    job->codes_[slot] = static_cast<uint8_t>(DecodeStatus::kError);
    job->messages_[slot] = e.what();
  }
}

}  // namespace faceid
