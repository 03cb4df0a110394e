#include "eval/evaluate.h"

#include "core/error.h"
#include "core/log.h"
#include "data/dataset.h"
#include "segment/predictions_file.h"

namespace deeplab::eval {

Evaluation evaluate_predictions(const std::string& predictions_path, const std::string& data_path, dist::Mpi& mpi) {
  const segment::PredictionsReader pred(predictions_path);
  const data::DatasetReader truth(data_path);
  truth.require_labels("evaluate");
  if (pred.info().num_classes != truth.num_classes())
    fail(predictions_path, " has ", pred.info().num_classes, " classes, ", data_path, " has ", truth.num_classes());
  if (pred.info().count != truth.size())
    fail(predictions_path, " holds ", pred.info().count, " images, ", data_path, " holds ", truth.size(),
         ": predictions and data must match entry by entry");
  // A mean over no classes is no score: 0% would read as a model that is always wrong.
  if (truth.size() == 0) fail(data_path, ": holds no images, so there is nothing to score");
  Evaluation e;
  e.confusion = ConfusionMatrix(truth.num_classes());
  e.class_names = truth.class_names();
  const int64_t n = truth.size();
  Progress progress("evaluate", long((n + mpi.size() - 1 - mpi.rank()) / mpi.size()));
  long done = 0;
  for (int64_t i = mpi.rank(); i < n; i += mpi.size()) {
    const data::EncodedSample s = truth.read_encoded(i);  // the labels and sizes; pixels stay undecoded
    if (!pred.has(i)) fail(predictions_path, ": no prediction for entry ", i, " ('", s.name, "')");
    const std::string name = pred.name(i);
    if (name != s.name)
      fail(predictions_path, ": entry ", i, " is '", name, "', ", data_path, " has '", s.name, "' there");
    const LabelMap labels = pred.labels(i);
    if (labels.h != s.height || labels.w != s.width)
      fail(predictions_path, ": '", s.name, "' is ", labels.w, "x", labels.h, ", the image is ", s.width, "x", s.height);
    e.confusion.add(labels.data.data(), s.labels.data(), s.height * s.width, predictions_path + ": '" + s.name + "'");
    if (mpi.rank() == 0) progress.update(++done);
  }
  if (mpi.rank() == 0) progress.finish();
  mpi.allreduce_sum(e.confusion.counts().data(), int64_t(e.confusion.counts().size()));
  e.images = n;
  return e;
}

}  // namespace deeplab::eval
