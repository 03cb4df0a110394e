#include "gpu/gpu_train_step.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "core/log.h"
#include "dist/device_sharing.h"
#include "dist/mpi.h"
#include "kernels.h"

namespace deeplab::gpu {

using Clock = std::chrono::steady_clock;

GpuTrainStep::GpuTrainStep(Model& model, train::Sgd& sgd, const train::SolverOptions& options, dist::Mpi& mpi,
                           const GpuOptions& gpu_options)
    : model_(model), sgd_(sgd), options_(options), mpi_(mpi), net_(model, gpu_options) {
  std::map<const nn::Param*, int> history;
  for (size_t i = 0; i < sgd.params().size(); ++i) history[sgd.params()[i]] = int(i);
  momentum_.reserve(net_.param_floats());
  std::vector<size_t> counts;
  for (const GpuNetwork::Slot& s : net_.slots()) {
    auto it = history.find(s.host);
    history_of_.push_back(it == history.end() ? -1 : it->second);
    if (it != history.end())
      check(cudaMemcpy(momentum_.get() + s.offset, sgd.history()[size_t(it->second)].data(), s.count * sizeof(float),
                       cudaMemcpyHostToDevice),
            "cudaMemcpy (momentum to the GPU)");
    counts.push_back(s.count);
  }
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  const std::vector<int64_t> devices = mpi.allgather(cuda_device_identity(device));
  sum_through_host_ = mpi.size() > 1 && dist::any_device_shared(devices);
  if (sum_through_host_) {
    host_grads_.resize(net_.param_floats());
    if (mpi.rank() == 0) {
      std::vector<int64_t> distinct = devices;
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
      log_warn(std::to_string(mpi.size()) + " ranks share " + std::to_string(distinct.size()) +
               " GPU(s): gradients are summed over MPI through the host (NCCL needs a GPU per rank)");
    }
  } else if (mpi.size() > 1) {
    comm_ = std::make_unique<dist::NcclCommunicator>(mpi);
  }
  reducer_ = std::make_unique<dist::NcclGradientReducer>(comm_.get(), net_.grads(), counts, net_.stream());
  sums_.reserve(5);
}

train::StepStats GpuTrainStep::run(int64_t iteration, const std::function<data::Batch()>& next_batch) {
  const auto t0 = Clock::now();
  const cudaStream_t stream = net_.stream();
  net_.zero_grads();
  reducer_->begin();
  check(cudaMemsetAsync(sums_.get(), 0, 5 * sizeof(double), stream), "cudaMemsetAsync");
  double images = 0;
  for (int k = 0; k < options_.iter_size; ++k) {
    const data::Batch batch = next_batch();
    net_.set_dropout_keys(train::dropout_keys(batch));
    const Tensor& scores = net_.forward(batch.images);
    const int64_t n = scores.dim(0), classes = scores.dim(1), h = scores.dim(2), w = scores.dim(3);
    if (batch.labels.n != n || batch.labels.h != batch.images.dim(2) || batch.labels.w != batch.images.dim(3))
      fail("GPU training: labels ", batch.labels.n, "x", batch.labels.h, "x", batch.labels.w, " for images ",
           shape_str(batch.images.shape()));
    labels_.reserve(batch.labels.data.size());
    small_labels_.reserve(size_t(n * h * w));
    check(cudaMemcpyAsync(labels_.get(), batch.labels.data.data(), batch.labels.data.size(), cudaMemcpyHostToDevice,
                          stream),
          "cudaMemcpyAsync (labels)");
    cuda::shrink_labels(labels_.get(), small_labels_.get(), n, batch.labels.h, batch.labels.w, h, w, stream);
    if (score_grad_.shape() != scores.shape()) {
      score_grad_ = Tensor(scores.shape(), Device::cuda);
      check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // zeroed on another stream
    }
    // Unnormalised, as on the CPU: the update divides by a count over every rank and batch.
    cuda::softmax_cross_entropy(scores.data(), small_labels_.get(), score_grad_.data(), sums_.get(), n, int(classes),
                                h * w, stream);
    const bool last = k + 1 == options_.iter_size;
    net_.backward(score_grad_, last ? std::function<void(size_t, size_t)>([this](size_t first, size_t count) {
      reducer_->ready(first, count);
    })
                                    : nullptr);
    images += double(n);
  }
  reducer_->finish();
  double wait = 0;
  if (sum_through_host_) {
    const auto w0 = Clock::now();
    const size_t bytes = host_grads_.size() * sizeof(float);
    check(cudaMemcpyAsync(host_grads_.data(), net_.grads(), bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    mpi_.allreduce_sum(host_grads_.data(), int64_t(host_grads_.size()));
    check(cudaMemcpyAsync(net_.grads(), host_grads_.data(), bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
    wait = std::chrono::duration<double>(Clock::now() - w0).count();
  }
  cuda::count_nonfinite(net_.grads(), net_.param_floats(), sums_.get() + 4, stream);
  double device_sums[5];
  check(cudaMemcpyAsync(device_sums, sums_.get(), sizeof device_sums, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  if (device_sums[3] > 0)
    fail("iteration ", iteration + 1, ": ", int64_t(device_sums[3]), " label(s) outside [0, ", model_.spec().num_classes,
         ") and not the ignore label 255");
  double sums[4] = {device_sums[0], device_sums[1], device_sums[2], images};
  train::StepStats s = train::global_stats(sums, options_, mpi_, iteration);
  if (device_sums[4] > 0)
    fail("iteration ", iteration + 1, ": ", int64_t(device_sums[4]),
         " gradient value(s) are not finite; training stopped before this update");
  const double rate = train::learning_rate(options_, iteration);
  const float scale = float(1.0 / s.normaliser), momentum = float(options_.momentum);
  for (size_t i = 0; i < net_.slots().size(); ++i) {
    if (history_of_[i] < 0) continue;
    const GpuNetwork::Slot& slot = net_.slots()[i];
    const nn::Param& p = *slot.host;
    cuda::sgd_update(net_.values() + slot.offset, momentum_.get() + slot.offset, net_.grads() + slot.offset, slot.count,
                     scale, float(rate * p.lr_mult), float(options_.weight_decay * p.decay_mult), momentum, stream);
  }
  check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  s.allreduce_wait_seconds = wait;
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

void GpuTrainStep::sync_to_host() {
  net_.download_params();
  for (size_t i = 0; i < net_.slots().size(); ++i) {
    if (history_of_[i] < 0) continue;
    const GpuNetwork::Slot& slot = net_.slots()[i];
    check(cudaMemcpy(sgd_.history()[size_t(history_of_[i])].data(), momentum_.get() + slot.offset,
                     slot.count * sizeof(float), cudaMemcpyDeviceToHost),
          "cudaMemcpy (momentum to the host)");
  }
}

}  // namespace deeplab::gpu
