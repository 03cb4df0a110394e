#include "eval/confusion.h"

#include <algorithm>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/error.h"
#include "image/image_io.h"
#include "core/label_map.h"

namespace deeplab::eval {

ConfusionMatrix::ConfusionMatrix(int classes) : classes_(classes), counts_(size_t(classes) * size_t(classes), 0) {
  if (classes < 1 || classes > 255) fail("confusion matrix: ", classes, " classes");
}

void ConfusionMatrix::add(const uint8_t* prediction, const uint8_t* truth, int64_t pixels, const std::string& where) {
  for (int64_t i = 0; i < pixels; ++i) {
    if (truth[i] == kIgnoreLabel) continue;
    if (truth[i] >= classes_) fail(where, ": ground truth ", int(truth[i]), " at pixel ", i, " is not a class");
    if (prediction[i] >= classes_) fail(where, ": prediction ", int(prediction[i]), " at pixel ", i, " is not a class");
    ++counts_[size_t(truth[i]) * classes_ + prediction[i]];
  }
}

std::optional<double> ConfusionMatrix::iou(int c) const {
  int64_t tp = count(c, c), fn = 0, fp = 0;
  for (int k = 0; k < classes_; ++k) {
    if (k == c) continue;
    fn += count(c, k);
    fp += count(k, c);
  }
  if (tp + fp + fn == 0) return std::nullopt;
  return double(tp) / double(tp + fp + fn);
}

double ConfusionMatrix::mean_iou() const {
  double sum = 0;
  int n = 0;
  for (int c = 0; c < classes_; ++c)
    if (auto v = iou(c)) sum += *v, ++n;
  return n ? sum / n : 0.0;
}

int64_t ConfusionMatrix::total() const {
  int64_t t = 0;
  for (int64_t v : counts_) t += v;
  return t;
}

double ConfusionMatrix::pixel_accuracy() const {
  int64_t correct = 0;
  for (int c = 0; c < classes_; ++c) correct += count(c, c);
  const int64_t t = total();
  return t ? double(correct) / double(t) : 0.0;
}

int64_t ConfusionMatrix::truth_count(int truth) const {
  int64_t row = 0;
  for (int p = 0; p < classes_; ++p) row += count(truth, p);
  return row;
}

std::string class_name(const Evaluation& e, int c) {
  return size_t(c) < e.class_names.size() ? e.class_names[size_t(c)] : "class" + std::to_string(c);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (uint8_t(ch) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", ch);
      out += esc;
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

std::string format_table(const Evaluation& e) {
  std::ostringstream out;
  char line[160];
  std::snprintf(line, sizeof line, "%-20s %8s\n", "class", "IoU");
  out << line;
  for (int c = 0; c < e.confusion.classes(); ++c) {
    auto v = e.confusion.iou(c);
    if (v) std::snprintf(line, sizeof line, "%-20s %7.2f%%\n", class_name(e, c).c_str(), 100 * *v);
    else std::snprintf(line, sizeof line, "%-20s %8s\n", class_name(e, c).c_str(), "absent");
    out << line;
  }
  std::snprintf(line, sizeof line, "%-20s %7.2f%%\n%-20s %7.2f%%\n%-20s %8lld\n", "mean IoU", 100 * e.confusion.mean_iou(),
                "pixel accuracy", 100 * e.confusion.pixel_accuracy(), "images", (long long)e.images);
  out << line;
  return out.str();
}

std::string to_json(const Evaluation& e) {
  std::ostringstream out;
  char num[64];
  std::snprintf(num, sizeof num, "%.6f", e.confusion.mean_iou());
  out << "{\"mean_iou\": " << num;
  std::snprintf(num, sizeof num, "%.6f", e.confusion.pixel_accuracy());
  out << ", \"pixel_accuracy\": " << num << ", \"images\": " << e.images << ", \"pixels\": " << e.confusion.total()
      << ", \"per_class_iou\": {";
  for (int c = 0; c < e.confusion.classes(); ++c) {
    auto v = e.confusion.iou(c);
    if (v) std::snprintf(num, sizeof num, "%.6f", *v);
    out << (c ? ", " : "") << json_string(class_name(e, c)) << ": " << (v ? std::string(num) : "null");
  }
  out << "}, \"confusion\": " << confusion_json(e.confusion) << "}\n";
  return out.str();
}

std::string confusion_json(const ConfusionMatrix& m) {
  std::ostringstream out;
  out << "[";
  for (int t = 0; t < m.classes(); ++t) {
    out << (t ? ", [" : "[");
    for (int p = 0; p < m.classes(); ++p) out << (p ? ", " : "") << m.count(t, p);
    out << "]";
  }
  out << "]";
  return out.str();
}

void write_confusion_png(const std::string& path, const Evaluation& e) {
  const int n = e.confusion.classes(), cell = std::max(12, 360 / n), margin = 130;
  const int size = margin + n * cell + 10;
  cv::Mat img(size, size, CV_8UC3, cv::Scalar(255, 255, 255));
  for (int t = 0; t < n; ++t) {
    const int64_t row = e.confusion.truth_count(t);
    for (int p = 0; p < n; ++p) {
      const double share = row ? double(e.confusion.count(t, p)) / double(row) : 0.0;
      const cv::Scalar colour(255 - 115 * share, 255 - 200 * share, 255 - 225 * share);  // BGR: to dark blue
      cv::rectangle(img, {margin + p * cell, margin + t * cell}, {margin + (p + 1) * cell - 1, margin + (t + 1) * cell - 1},
                    colour, cv::FILLED);
    }
    const std::string name = class_name(e, t).substr(0, 16);
    cv::putText(img, name, {4, margin + t * cell + cell / 2 + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, {0, 0, 0});
    // Column labels, written vertically: rotate a strip.
    cv::Mat strip(cell, margin - 6, CV_8UC3, cv::Scalar(255, 255, 255));
    cv::putText(strip, name, {2, cell / 2 + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.35, {0, 0, 0});
    cv::Mat turned;
    cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    turned.copyTo(img(cv::Rect(margin + t * cell, 2, cell, margin - 6)));
  }
  cv::putText(img, "truth (rows) vs prediction (columns)", {margin, size - 2}, cv::FONT_HERSHEY_SIMPLEX, 0.3, {0, 0, 0});
  write_png(path, img);
}

}  // namespace deeplab::eval
