#include "gpu/backend.h"

#include "gpu/gpu_network.h"
#include "gpu/gpu_train_step.h"

namespace deeplab::gpu {

namespace {
std::unique_ptr<DeviceNetwork> make_network(Model& model, bool tf32, bool measure_algorithms) {
  GpuOptions options;
  options.tf32 = tf32;
  options.measure_algorithms = measure_algorithms;
  return std::make_unique<GpuNetwork>(model, options);
}

std::unique_ptr<train::Step> make_step(Model& model, train::Sgd& sgd, const train::SolverOptions& options,
                                       dist::Mpi& mpi, bool tf32) {
  GpuOptions gpu_options;
  gpu_options.tf32 = tf32;
  return std::make_unique<GpuTrainStep>(model, sgd, options, mpi, gpu_options);
}
}  // namespace

void register_gpu_backend() {
  register_device_network(make_network);
  train::register_device_step(make_step);
}

}  // namespace deeplab::gpu
