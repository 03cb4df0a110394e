// The training step on this rank's GPU: the network forward and backward on the device, the
// loss by kernels/loss.cu, gradient sums by NCCL overlapped with backward, and Caffe's SGD update
// by kernels/sgd.cu. Parameters and momentum live on the device; sync_to_host() copies them into
// the Model and Sgd for checkpoints. Per step the host sends the batch and reads back five
// numbers (loss, pixel counts, non-finite gradients) to log and to stop on a diverged loss.
#pragma once
#include <memory>

#include "dist/nccl_reducer.h"
#include "gpu/gpu_network.h"
#include "train/trainer.h"

namespace deeplab::gpu {

class GpuTrainStep : public train::Step {
 public:
  // The model and sgd hold the starting state (after broadcast_state); it is uploaded here.
  GpuTrainStep(Model& model, train::Sgd& sgd, const train::SolverOptions& options, dist::Mpi& mpi,
               const GpuOptions& gpu_options);
  train::StepStats run(int64_t iteration, const std::function<data::Batch()>& next_batch) override;
  void sync_to_host() override;

 private:
  Model& model_;
  train::Sgd& sgd_;
  train::SolverOptions options_;
  dist::Mpi& mpi_;
  GpuNetwork net_;
  DeviceArray<float> momentum_;      // same slots as the network's values
  std::vector<int> history_of_;      // per slot: index into sgd.history(), or -1 (frozen)
  std::unique_ptr<dist::NcclCommunicator> comm_;
  std::unique_ptr<dist::NcclGradientReducer> reducer_;
  // Ranks sharing a GPU (dist/device_sharing.h): NCCL refuses one device twice, so the
  // gradients are summed by MPI through the host instead.
  bool sum_through_host_ = false;
  std::vector<float> host_grads_;
  DeviceArray<uint8_t> labels_, small_labels_;
  DeviceArray<double> sums_;         // loss, labelled, correct, bad labels, non-finite gradients
  Tensor score_grad_;
};

}  // namespace deeplab::gpu
