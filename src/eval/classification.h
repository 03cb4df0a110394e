// Top-1 accuracy of a classifier (a vgg16 model) on a fixed test set: example i of the source
// made with data::test_seed(i). Under MPI each rank classifies examples r, r + N, ...; the
// confusion matrices are summed. Scores from a network larger than its input size are averaged
// over positions (a fully convolutional classifier); at its own input size there is one.
#pragma once
#include <string>
#include <vector>

#include "data/example_source.h"
#include "dist/mpi.h"
#include "eval/confusion.h"
#include "models/deeplab.h"

namespace deeplab::eval {

// Examples 0 .. count - 1 (all when count is 0 or beyond the size), `batch` at a time.
Evaluation classify(Model& model, data::ExampleSource& examples, int64_t count, int batch, dist::Mpi& mpi,
                    std::vector<std::string> class_names);

// Per-class accuracy (the share of each class's examples classified right), then top-1.
std::string format_accuracy_table(const Evaluation& e);
// {"top1": ..., "images": N, "per_class_accuracy": {"name": value|null}, "confusion": [[...], ...]}
std::string accuracy_json(const Evaluation& e);

}  // namespace deeplab::eval
