// Segmentation scores from a confusion matrix, as the PASCAL VOC devkit defines them: counts over
// every pixel whose ground truth is not 255; IoU of class c = TP / (TP + FP + FN); mean IoU over
// classes; pixel accuracy = correct / counted.
// A class absent from both the ground truth and the predictions has no IoU (0 / 0). The VOC
// devkit would give NaN and a NaN mean; here it is reported as absent and left out of the mean,
// as most evaluation code does (it never happens on VOC val, where every class appears).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deeplab::eval {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int classes);
  int classes() const { return classes_; }
  // Pixels of one image; a prediction outside [0, classes) is an error naming `where`.
  void add(const uint8_t* prediction, const uint8_t* truth, int64_t pixels, const std::string& where);
  int64_t count(int truth, int predicted) const { return counts_[size_t(truth) * classes_ + predicted]; }
  int64_t truth_count(int truth) const;  // the row: everything whose truth is `truth`
  std::vector<int64_t>& counts() { return counts_; }  // truth-major, for sums across ranks
  std::optional<double> iou(int c) const;
  double mean_iou() const;        // over the classes that have an IoU
  double pixel_accuracy() const;  // 0 when nothing was counted
  int64_t total() const;

 private:
  int classes_;
  std::vector<int64_t> counts_;
};

struct Evaluation {
  ConfusionMatrix confusion{1};
  std::vector<std::string> class_names;
  int64_t images = 0;
  int stopped_by = 0;  // a stop signal (SIGTERM, SIGINT) that ended it early; the counts are partial
};

// Class c's name, or "classC" when the names are not known.
std::string class_name(const Evaluation& e, int c);
// s as a JSON string literal, quoted and escaped.
std::string json_string(const std::string& s);
// The counts as JSON rows, truth-major: [[...], [...]].
std::string confusion_json(const ConfusionMatrix& m);

// The table people read: one row per class (IoU or "absent"), then mean IoU and pixel accuracy.
std::string format_table(const Evaluation& e);
// {"mean_iou": ..., "pixel_accuracy": ..., "images": N, "per_class_iou": {"name": value|null}, ...}
std::string to_json(const Evaluation& e);
// The confusion matrix as a picture: rows are the truth, columns the prediction, each row
// normalised to its pixel count (white 0 to dark blue 1), class names along the edges.
void write_confusion_png(const std::string& path, const Evaluation& e);

}  // namespace deeplab::eval
