// The model / checkpoint file (HDF5): one dataset per parameter under its Caffe-style name
// ("fc6/weight", OIHW float32; "fc6/bias"), and file attributes naming the format and the
// network (format = "deeplab-model", version, kind, num_classes, width; input_size for a vgg16
// classifier). Each parameter carries a
// crc32 attribute (CRC-32 of its float32 bytes), checked on load when present (files converted by
// other tools may omit it). Written atomically.
// Training adds its solver state under "/solver" in the same file.
#pragma once
#include <memory>
#include <string>

#include "core/h5_file_format.h"
#include "models/deeplab.h"

namespace deeplab {

inline constexpr const char* kModelFormat = "deeplab-model";
inline constexpr int kModelFormatVersion = 1;

// Writes the spec and every parameter into a file made as h5::NewFile(path, kModelFormat,
// kModelFormatVersion).
void write_model(h5::File& file, Model& model);
// Saves to path atomically (temporary file, fsync, rename).
void save_model(const std::string& path, Model& model);

// The spec stored in a model file; a foreign or damaged file is a clear error.
ModelSpec read_model_spec(const h5::File& file);
// Fails, naming both, when the file holds another network than `want` (kind, classes, width).
void require_same_network(const h5::File& file, const ModelSpec& want);
// A tensor entry with its CRC-32 (attribute crc32), checked by stored_tensor_problem.
void write_checked_tensor(h5::File& file, const std::string& name, const Tensor& value);
// What is wrong with a tensor entry ("" when nothing): "is missing", "has shape ..., expected
// ...", "fails its checksum: damaged file", "value I is not finite (nan)". Reads the value into
// *value when its shape is right.
std::string stored_tensor_problem(const h5::File& file, const std::string& name, const Shape& expected, Tensor* value);
// Loads parameters into a model of the same spec; fails at the first entry with a problem.
void read_params(const h5::File& file, Model& model);
std::unique_ptr<Model> load_model(const std::string& path, nn::Phase phase);

// CRC-32 of every parameter's float bytes, in order: replicas compare it, and it identifies a
// model's weights in the settings of resumable jobs.
uint32_t parameters_crc(Model& model);
// "KIND, N classes, width W[, fc6 dilation D], parameters' CRC-32 XXXXXXXX": the same network
// saved again gives the same stamp, a retrained one another.
std::string content_stamp(Model& model);

}  // namespace deeplab
