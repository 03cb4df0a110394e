#include "data/pack.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "core/text_file.h"
#include "data/dataset.h"
#include "dist/mpi.h"
#include "image/image_io.h"

namespace deeplab::data {

namespace {

// One entry as its owner rank decoded, checked and prepared it, or why it could not be.
struct Loaded {
  bool ok = true;
  std::string reason;
  PreparedSample sample;
};

Loaded load(const PackItem& item, const PackOptions& o) {
  Loaded d;
  try {
    std::vector<uint8_t> bytes = read_file_bytes(item.image);
    RgbImage image = decode_image(bytes.data(), bytes.size(), item.image);  // checks a JPEG kept as it is, too
    EncodedSample s;
    s.name = item.name;
    s.height = image.height;
    s.width = image.width;
    s.jpeg = o.storage == PixelStorage::source && sniff_image_format(bytes.data(), bytes.size()) == ImageFormat::jpeg;
    s.pixels = s.jpeg ? std::move(bytes) : std::move(image.rgb);
    if (!item.label.empty()) {
      LabelMap labels = read_label_png(item.label);
      if (labels.h != s.height || labels.w != s.width)
        fail(item.label, ": the label map is ", labels.w, "x", labels.h, " but its image ", item.image, " is ", s.width,
             "x", s.height);
      s.labels = std::move(labels.data);
    } else if (o.labels_required) {
      fail(item.image, ": has no label map");
    }
    // Checks the label values too; what is wrong there is in the label file.
    d.sample = prepare(s, o.num_classes, item.label.empty() ? item.image : item.label);
  } catch (const std::exception& e) {  // ours, or a filesystem or allocation failure on this entry
    if (!o.skip_bad) throw;
    d = Loaded{false, e.what(), {}};
  }
  return d;
}

// Messages between ranks: integers, and byte strings after their length.
void append(std::vector<uint8_t>& out, const void* bytes, size_t size) {
  const size_t at = out.size();
  out.resize(at + size);
  if (size > 0) std::memcpy(out.data() + at, bytes, size);
}

void put(std::vector<uint8_t>& out, int64_t n) { append(out, &n, sizeof n); }

void put(std::vector<uint8_t>& out, const uint8_t* bytes, size_t size) {
  put(out, int64_t(size));
  append(out, bytes, size);
}

void put(std::vector<uint8_t>& out, const std::string& s) {
  put(out, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Reads back what put wrote; anything short or left over is an error naming the message.
class Taker {
 public:
  Taker(const std::vector<uint8_t>& in, std::string what) : in_(in), what_(std::move(what)) {}
  int64_t integer() {
    int64_t n = 0;
    if (in_.size() - at_ < sizeof n) malformed();
    std::memcpy(&n, in_.data() + at_, sizeof n);
    at_ += sizeof n;
    return n;
  }
  std::vector<uint8_t> bytes() {
    const int64_t n = integer();
    if (n < 0 || in_.size() - at_ < size_t(n)) malformed();
    at_ += size_t(n);
    return std::vector<uint8_t>(in_.begin() + std::ptrdiff_t(at_ - size_t(n)), in_.begin() + std::ptrdiff_t(at_));
  }
  std::string text() {
    const std::vector<uint8_t> b = bytes();
    return std::string(b.begin(), b.end());
  }
  void end() const {
    if (at_ != in_.size()) malformed();
  }

 private:
  [[noreturn]] void malformed() const { fail(what_, " is malformed"); }
  const std::vector<uint8_t>& in_;
  std::string what_;
  size_t at_ = 0;
};

std::vector<uint8_t> to_wire(const Loaded& d) {
  std::vector<uint8_t> out;
  put(out, int64_t(d.ok));
  if (!d.ok) {
    put(out, d.reason);
    return out;
  }
  const PreparedSample& s = d.sample;
  put(out, s.name);
  for (const int64_t n : {int64_t(s.jpeg), int64_t(s.labelled), s.height, s.width, s.jpeg_size, s.crc}) put(out, n);
  for (const h5::FilteredChunk* c : {&s.pixels, &s.labels}) put(out, int64_t(c->deflated)), put(out, c->bytes.data(), c->bytes.size());
  return out;
}

Loaded from_wire(const std::vector<uint8_t>& bytes, const std::string& job) {
  Taker in(bytes, job + ": a message from another rank");
  Loaded d;
  d.ok = in.integer() != 0;
  if (!d.ok) {
    d.reason = in.text();
    in.end();
    return d;
  }
  PreparedSample& s = d.sample;
  s.name = in.text();
  s.jpeg = in.integer() != 0;
  s.labelled = in.integer() != 0;
  s.height = in.integer();
  s.width = in.integer();
  s.jpeg_size = in.integer();
  s.crc = in.integer();
  for (h5::FilteredChunk* c : {&s.pixels, &s.labels}) {
    c->deflated = in.integer() != 0;
    c->bytes = in.bytes();
  }
  in.end();
  return d;
}

}  // namespace

ImageSources find_images_on_rank0(const std::string& source, const std::string& labels) {
  dist::Mpi& mpi = dist::Mpi::get();
  ImageSources found;
  std::vector<uint8_t> bytes;
  if (mpi.rank() == 0) {
    found = find_images(source, labels);
    put(bytes, found.ignored), put(bytes, found.unpaired_labels);
    put(bytes, int64_t(found.items.size())), put(bytes, int64_t(found.bad.size()));
    for (const PackItem& item : found.items) put(bytes, item.name), put(bytes, item.image), put(bytes, item.label);
    for (const std::string& bad : found.bad) put(bytes, bad);
  }
  mpi.broadcast(bytes);
  if (mpi.rank() == 0) return found;
  Taker in(bytes, "pack: the list of images from rank 0");
  found.ignored = in.integer();
  found.unpaired_labels = in.integer();
  const int64_t items = in.integer(), bad = in.integer();
  for (int64_t i = 0; i < items; ++i) {
    PackItem item;
    item.name = in.text(), item.image = in.text(), item.label = in.text();
    found.items.push_back(std::move(item));
  }
  for (int64_t i = 0; i < bad; ++i) found.bad.push_back(in.text());
  in.end();
  return found;
}

PackReport pack_dataset(const ImageSources& sources, const PackOptions& o) {
  dist::Mpi& mpi = dist::Mpi::get();
  if (!o.overwrite && std::filesystem::exists(o.out)) fail(o.out, ": exists; pass --overwrite to replace it");
  PackReport report;
  report.found = int64_t(sources.items.size() + sources.bad.size());
  if (!sources.bad.empty() && !o.skip_bad) fail(sources.bad.front());
  report.skipped = sources.bad;
  const int64_t n = int64_t(sources.items.size());
  std::unique_ptr<DatasetWriter> writer;
  if (mpi.rank() == 0) writer = std::make_unique<DatasetWriter>(o.out, o.num_classes, o.class_names);
  Progress progress(o.job, n);
  // A rank may run a few entries ahead of the writer: their messages wait to be taken.
  constexpr size_t kAhead = 4;
  std::deque<dist::Mpi::PendingSend> sending;
  for (int64_t i = 0; i < n; ++i) {
    const int owner = int(i % mpi.size());
    Loaded d;
    if (mpi.rank() == owner) {
      d = load(sources.items[size_t(i)], o);
      if (owner != 0) {
        if (sending.size() == kAhead) sending.pop_front();  // waits for the oldest to be taken
        sending.push_back(mpi.send_later(0, to_wire(d)));
      }
    }
    if (mpi.rank() != 0) continue;
    if (owner != 0) d = from_wire(mpi.receive(owner), o.job);
    if (d.ok) {
      writer->add(d.sample);
      ++report.packed;
      report.labelled += d.sample.labelled;
      report.jpeg_bytes += d.sample.jpeg_size;
    } else {
      report.skipped.push_back(d.reason);
    }
    progress.update(i + 1);
  }
  if (mpi.rank() == 0) {
    progress.finish();
    if (report.packed == 0) {
      std::string why;  // the first few reasons: the inputs, not the output, are what is wrong
      for (size_t k = 0; k < std::min<size_t>(report.skipped.size(), 10); ++k) why += "\n  " + report.skipped[k];
      if (report.skipped.size() > 10) why += "\n  ... and " + std::to_string(report.skipped.size() - 10) + " more";
      fail(o.out, ": none of the ", report.found, " images could be packed:", why);
    }
    writer->commit();
  }
  mpi.barrier();
  return report;
}

}  // namespace deeplab::data
