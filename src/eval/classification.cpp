#include "eval/classification.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/signals.h"

namespace deeplab::eval {

namespace {
std::optional<double> class_accuracy(const ConfusionMatrix& m, int c) {
  const int64_t row = m.truth_count(c);
  if (row == 0) return std::nullopt;
  return double(m.count(c, c)) / double(row);
}

}  // namespace

Evaluation classify(Model& model, data::ExampleSource& examples, int64_t count, int batch, dist::Mpi& mpi,
                    std::vector<std::string> class_names) {
  if (examples.label_side() != 1) fail(examples.name(), ": not a classification set (one class per image)");
  if (batch < 1) fail("classify: batch ", batch, " must be positive");
  const int classes = model.spec().num_classes;
  if (classes > 255) fail("classify: ", classes, " classes; labels here are bytes (at most 255 classes)");
  if (count <= 0 || count > examples.size()) count = examples.size();
  const int side = examples.image_side();
  Evaluation e;
  e.confusion = ConfusionMatrix(classes);
  e.class_names = std::move(class_names);
  std::vector<int64_t> mine;
  for (int64_t i = mpi.rank(); i < count; i += mpi.size()) mine.push_back(i);
  Progress progress("classify " + examples.name(), long(mine.size()));
  // Every rank takes the same number of steps (the largest share's), so that a stop signal seen
  // by any rank is agreed on at each step and all of them stop together.
  const int64_t largest_share = (count + mpi.size() - 1) / mpi.size();
  const int64_t steps = (largest_share + batch - 1) / batch;
  for (int64_t step = 0; step < steps; ++step) {
    int64_t stop = stop_signal();
    mpi.allreduce_max(&stop, 1);
    if (stop) {
      e.stopped_by = int(stop);
      break;
    }
    const size_t first = size_t(step) * size_t(batch);
    if (first >= mine.size()) continue;
    const int n = int(std::min<size_t>(size_t(batch), mine.size() - first));
    Tensor images({n, 3, side, side});
    std::vector<uint8_t> truth(static_cast<size_t>(n)), predicted(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      const int64_t index = mine[first + size_t(i)];
      examples.make(index, data::test_seed(index), images.data() + int64_t(i) * 3 * side * side, &truth[size_t(i)]);
    }
    const Tensor scores = model.forward(images);
    const int64_t positions = scores.dim(2) * scores.dim(3);
    for (int i = 0; i < n; ++i) {
      int best = 0;
      double best_score = -1e300;
      for (int c = 0; c < classes; ++c) {
        const float* s = scores.data() + (int64_t(i) * classes + c) * positions;
        double sum = 0;
        for (int64_t k = 0; k < positions; ++k) sum += s[k];
        if (sum > best_score) best_score = sum, best = c;
      }
      predicted[size_t(i)] = uint8_t(best);
    }
    e.confusion.add(predicted.data(), truth.data(), n, examples.name());
    if (mpi.rank() == 0) progress.update(long(first) + n);
  }
  if (mpi.rank() == 0) progress.finish();
  mpi.allreduce_sum(e.confusion.counts().data(), int64_t(e.confusion.counts().size()));
  e.images = count;
  return e;
}

std::string format_accuracy_table(const Evaluation& e) {
  std::ostringstream out;
  char line[128];
  std::snprintf(line, sizeof line, "%-16s %9s %8s\n", "class", "accuracy", "images");
  out << line;
  for (int c = 0; c < e.confusion.classes(); ++c) {
    const int64_t row = e.confusion.truth_count(c);
    const auto a = class_accuracy(e.confusion, c);
    if (a) std::snprintf(line, sizeof line, "%-16s %8.2f%% %8lld\n", class_name(e, c).c_str(), 100 * *a, (long long)row);
    else std::snprintf(line, sizeof line, "%-16s %9s %8lld\n", class_name(e, c).c_str(), "absent", (long long)row);
    out << line;
  }
  std::snprintf(line, sizeof line, "%-16s %8.2f%% %8lld\n", "top-1", 100 * e.confusion.pixel_accuracy(),
                (long long)e.confusion.total());
  out << line;
  return out.str();
}

std::string accuracy_json(const Evaluation& e) {
  std::ostringstream out;
  char num[64];
  std::snprintf(num, sizeof num, "%.6f", e.confusion.pixel_accuracy());
  out << "{\"top1\": " << num << ", \"images\": " << e.confusion.total() << ", \"per_class_accuracy\": {";
  for (int c = 0; c < e.confusion.classes(); ++c) {
    const auto a = class_accuracy(e.confusion, c);
    if (a) std::snprintf(num, sizeof num, "%.6f", *a);
    out << (c ? ", " : "") << json_string(class_name(e, c)) << ": " << (a ? std::string(num) : "null");
  }
  out << "}, \"confusion\": " << confusion_json(e.confusion) << "}\n";
  return out.str();
}

}  // namespace deeplab::eval
