#include "data/pack.h"

#include <cstring>
#include <deque>
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
      validate_labels(s.name, labels.data, s.height, s.width, o.num_classes, item.label);
      s.labels = std::move(labels.data);
    } else if (o.labels_required) {
      fail(item.image, ": has no label map");
    }
    d.sample = prepare(s, o.num_classes, item.image);
  } catch (const std::exception& e) {  // ours, or a filesystem or allocation failure on this entry
    if (!o.skip_bad) throw;
    d = Loaded{false, e.what(), {}};
  }
  return d;
}

// The wire form of a Loaded entry: a fixed head, then the text and the two filtered chunks.
struct WireHead {
  int64_t ok, jpeg, labelled, height, width, jpeg_size, crc, pixels_deflated, labels_deflated, text, pixels, labels;
};

std::vector<uint8_t> to_wire(const Loaded& d) {
  const std::string& text = d.ok ? d.sample.name : d.reason;
  const PreparedSample& s = d.sample;
  const std::vector<uint8_t> &pixels = s.pixels.bytes, &labels = s.labels.bytes;
  const WireHead head{d.ok,          s.jpeg, s.labelled, s.height, s.width, s.jpeg_size, s.crc, s.pixels.deflated,
                      s.labels.deflated, int64_t(text.size()), int64_t(pixels.size()), int64_t(labels.size())};
  std::vector<uint8_t> bytes(sizeof head + text.size() + pixels.size() + labels.size());
  uint8_t* p = bytes.data();
  std::memcpy(p, &head, sizeof head), p += sizeof head;
  std::memcpy(p, text.data(), text.size()), p += text.size();
  if (!pixels.empty()) std::memcpy(p, pixels.data(), pixels.size()), p += pixels.size();
  if (!labels.empty()) std::memcpy(p, labels.data(), labels.size());
  return bytes;
}

Loaded from_wire(const std::vector<uint8_t>& bytes, const std::string& job) {
  WireHead head;
  if (bytes.size() < sizeof head) fail(job, ": a short message from another rank");
  std::memcpy(&head, bytes.data(), sizeof head);
  if (head.text < 0 || head.pixels < 0 || head.labels < 0 ||
      bytes.size() != sizeof head + size_t(head.text + head.pixels + head.labels))
    fail(job, ": a malformed message from another rank");
  const uint8_t* p = bytes.data() + sizeof head;
  Loaded d;
  d.ok = head.ok != 0;
  std::string text(reinterpret_cast<const char*>(p), size_t(head.text));
  p += head.text;
  if (!d.ok) {
    d.reason = std::move(text);
    return d;
  }
  PreparedSample& s = d.sample;
  s.name = std::move(text);
  s.jpeg = head.jpeg != 0;
  s.labelled = head.labelled != 0;
  s.height = head.height;
  s.width = head.width;
  s.jpeg_size = head.jpeg_size;
  s.crc = head.crc;
  s.pixels = h5::FilteredChunk{std::vector<uint8_t>(p, p + head.pixels), head.pixels_deflated != 0};
  p += head.pixels;
  s.labels = h5::FilteredChunk{std::vector<uint8_t>(p, p + head.labels), head.labels_deflated != 0};
  return d;
}

// The list of images as bytes, to send rank 0's walk to every rank.
void put(std::vector<uint8_t>& out, int64_t n) {
  out.insert(out.end(), reinterpret_cast<const uint8_t*>(&n), reinterpret_cast<const uint8_t*>(&n) + sizeof n);
}

void put(std::vector<uint8_t>& out, const std::string& s) {
  put(out, int64_t(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

int64_t take_int(const std::vector<uint8_t>& in, size_t& at) {
  int64_t n = 0;
  if (in.size() - at < sizeof n) fail("pack: a malformed list of images from rank 0");
  std::memcpy(&n, in.data() + at, sizeof n);
  at += sizeof n;
  return n;
}

std::string take(const std::vector<uint8_t>& in, size_t& at) {
  const int64_t n = take_int(in, at);
  if (n < 0 || in.size() - at < size_t(n)) fail("pack: a malformed list of images from rank 0");
  std::string s(reinterpret_cast<const char*>(in.data() + at), size_t(n));
  at += size_t(n);
  return s;
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
  size_t at = 0;
  found.ignored = take_int(bytes, at);
  found.unpaired_labels = take_int(bytes, at);
  const int64_t items = take_int(bytes, at), bad = take_int(bytes, at);
  for (int64_t i = 0; i < items; ++i) {
    PackItem item;
    item.name = take(bytes, at), item.image = take(bytes, at), item.label = take(bytes, at);
    found.items.push_back(std::move(item));
  }
  for (int64_t i = 0; i < bad; ++i) found.bad.push_back(take(bytes, at));
  return found;
}

PackReport pack_dataset(const ImageSources& sources, const PackOptions& o) {
  dist::Mpi& mpi = dist::Mpi::get();
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
    if (report.packed == 0) fail(o.out, ": none of the ", report.found, " images could be packed");
    writer->commit();
  }
  mpi.barrier();
  return report;
}

}  // namespace deeplab::data
