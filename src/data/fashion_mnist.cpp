#include "data/fashion_mnist.h"

#include <zlib.h>

#include "core/error.h"

namespace deeplab::data {

const char* const kFashionMnistClasses[kFashionMnistClassCount] = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                              "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};

namespace {

// An IDX file: big-endian magic (type 0x08 = uint8, then the number of dimensions), dimensions,
// then the bytes.
std::vector<uint8_t> read_idx(const std::string& path, int want_dims, std::vector<int64_t>& dims) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) fail(path, ": cannot open (is dataset-fashion-mnist installed? ./run.sh setup installs it)");
  auto read_exact = [&](void* buf, size_t n) {
    size_t done = 0;
    while (done < n) {
      int got = gzread(f, static_cast<char*>(buf) + done, unsigned(std::min<size_t>(n - done, 1u << 30)));
      if (got <= 0) {
        gzclose(f);
        fail(path, ": truncated or damaged");
      }
      done += size_t(got);
    }
  };
  uint8_t magic[4];
  read_exact(magic, 4);
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != want_dims) {
    gzclose(f);
    fail(path, ": not an IDX file of ", want_dims, "-D uint8 data");
  }
  // A damaged header may claim any size: bounded (Fashion-MNIST holds 47 million bytes), and the
  // data read in steps, so a short file is "truncated", not a failed allocation.
  constexpr int64_t kMostBytes = int64_t(1) << 32;
  int64_t total = 1;
  dims.clear();
  for (int i = 0; i < want_dims; ++i) {
    uint8_t b[4];
    read_exact(b, 4);
    dims.push_back(int64_t(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
    if (dims.back() > 0 && total > kMostBytes / dims.back()) {
      gzclose(f);
      fail(path, ": the header claims more than ", kMostBytes, " bytes of data: damaged");
    }
    total *= dims.back();
  }
  std::vector<uint8_t> data;
  for (int64_t done = 0; done < total;) {
    const int64_t step = std::min<int64_t>(total - done, int64_t(1) << 24);
    data.resize(size_t(done + step));
    read_exact(data.data() + done, size_t(step));
    done += step;
  }
  gzclose(f);
  return data;
}

}  // namespace

FashionMnist load_fashion_mnist(const std::string& dir, const std::string& split) {
  FashionMnist m;
  std::vector<int64_t> image_dims, label_dims;
  m.images = read_idx(dir + "/" + split + "-images-idx3-ubyte.gz", 3, image_dims);
  m.labels = read_idx(dir + "/" + split + "-labels-idx1-ubyte.gz", 1, label_dims);
  if (image_dims[0] != label_dims[0])
    fail(dir, ": ", split, " has ", image_dims[0], " images but ", label_dims[0], " labels");
  m.count = image_dims[0];
  m.rows = image_dims[1];
  m.cols = image_dims[2];
  for (uint8_t l : m.labels)
    if (l > 9) fail(dir, ": ", split, " labels contain ", int(l), ", outside 0..9");
  return m;
}

}  // namespace deeplab::data
