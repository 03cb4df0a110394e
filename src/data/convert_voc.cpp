#include "data/convert_voc.h"

#include <cstring>

#include "core/error.h"
#include "core/log.h"
#include "data/dataset.h"
#include "data/voc.h"
#include "dist/mpi.h"

namespace deeplab::data {
namespace {

// A decoded entry on the wire: ok flag, sizes, name (or the reason it was skipped), pixels, labels.
std::vector<uint8_t> pack(bool ok, const Sample& s, const std::string& reason) {
  const std::string& text = ok ? s.name : reason;
  const int64_t head[4] = {ok, s.height, s.width, int64_t(text.size())};
  std::vector<uint8_t> bytes(sizeof head + text.size() + (ok ? s.rgb.size() + s.labels.size() : 0));
  uint8_t* p = bytes.data();
  std::memcpy(p, head, sizeof head), p += sizeof head;
  std::memcpy(p, text.data(), text.size()), p += text.size();
  if (ok) std::memcpy(p, s.rgb.data(), s.rgb.size()), p += s.rgb.size(), std::memcpy(p, s.labels.data(), s.labels.size());
  return bytes;
}

bool unpack(const std::vector<uint8_t>& bytes, Sample& s, std::string& reason) {
  int64_t head[4];
  if (bytes.size() < sizeof head) fail("convert-voc: a short message from another rank");
  std::memcpy(head, bytes.data(), sizeof head);
  const uint64_t pixels = uint64_t(head[1]) * uint64_t(head[2]);
  if (head[3] < 0 || head[1] < 0 || head[2] < 0 ||
      bytes.size() != sizeof head + size_t(head[3]) + (head[0] ? pixels * 4 : 0))
    fail("convert-voc: a malformed message from another rank");
  const uint8_t* p = bytes.data() + sizeof head;
  std::string text(reinterpret_cast<const char*>(p), size_t(head[3]));
  p += head[3];
  if (!head[0]) {
    reason = text;
    return false;
  }
  s.name = text;
  s.height = head[1];
  s.width = head[2];
  s.rgb.assign(p, p + s.height * s.width * 3);
  p += s.height * s.width * 3;
  s.labels.assign(p, p + s.height * s.width);
  return true;
}

}  // namespace

ConvertReport convert_voc(const ConvertOptions& o) {
  dist::Mpi& mpi = dist::Mpi::get();
  const std::vector<std::string> names = read_name_list(o.list);
  std::vector<std::string> classes = o.class_names;
  if (classes.empty() && o.num_classes == 21) classes = voc_class_names();
  ConvertReport report;
  report.listed = int64_t(names.size());
  std::unique_ptr<DatasetWriter> writer;
  if (mpi.rank() == 0) writer = std::make_unique<DatasetWriter>(o.out, o.num_classes, classes);
  Progress progress("convert-voc", report.listed);
  for (int64_t i = 0; i < report.listed; ++i) {
    const int owner = int(i % mpi.size());
    Sample s;
    bool ok = true;
    std::string reason;
    if (mpi.rank() == owner) {
      try {
        s = read_voc_sample(o.voc_root, o.label_dir, names[i], o.num_classes);
      } catch (const std::exception& e) {  // ours, or a filesystem or OpenCV failure on this entry
        if (!o.skip_bad) throw;
        ok = false;
        reason = names[i] + ": " + e.what();
      }
      if (owner != 0) mpi.send(0, pack(ok, s, reason));
    }
    if (mpi.rank() != 0) continue;
    if (owner != 0) ok = unpack(mpi.receive(owner), s, reason);
    if (ok) {
      writer->add(s);
      ++report.converted;
    } else {
      report.skipped.push_back(reason);
    }
    progress.update(i + 1);
  }
  if (mpi.rank() == 0) {
    progress.finish();
    if (report.converted == 0) fail(o.out, ": no entry of ", o.list, " could be converted");
    writer->commit();
  }
  mpi.barrier();
  return report;
}

}  // namespace deeplab::data
