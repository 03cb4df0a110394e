// Scores a predictions file against the data set it was made from. Under MPI each rank reads
// images r, r + N, ... and the confusion matrices are summed. The two files must match entry by
// entry (same count, names and sizes, same classes): anything else is an error that names the
// entry.
#pragma once
#include <string>

#include "dist/mpi.h"
#include "eval/confusion.h"

namespace deeplab::eval {

Evaluation evaluate_predictions(const std::string& predictions_path, const std::string& data_path, dist::Mpi& mpi);

}  // namespace deeplab::eval
