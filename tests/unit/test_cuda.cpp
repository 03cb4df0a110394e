// The CUDA side: kernels against their CPU twins. Skipped, with the reason, where no GPU is
// visible or the build has CUDA off.
#include <gtest/gtest.h>

#include "core/device.h"
#include "dist/device_sharing.h"
#include "gradcheck.h"
#include "test_support.h"
#ifdef DEEPLAB_WITH_CUDA
#include "dist/mpi.h"
#include "dist/nccl_reducer.h"
#include "kernels.h"
#endif

namespace deeplab {
namespace {

TEST(Cuda, TensorRoundTripAndReluMatchCpu) {
  SKIP_WITHOUT_GPU();
#ifdef DEEPLAB_WITH_CUDA
  Tensor x = testing::random_tensor({2, 3, 17, 19}, 1);
  Tensor dy = testing::random_tensor(x.shape(), 2);
  Tensor gx = x.to(Device::cuda), gdy = dy.to(Device::cuda);
  Tensor gy(x.shape(), Device::cuda), gdx(x.shape(), Device::cuda);
  cuda::relu_forward(gx.data(), gy.data(), x.numel());
  cuda::relu_backward(gx.data(), gdy.data(), gdx.data(), x.numel());
  Tensor y = gy.to(Device::cpu), dx = gdx.to(Device::cpu), back = gx.to(Device::cpu);
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(back.data()[i], x.data()[i]);
    ASSERT_EQ(y.data()[i], std::max(0.0f, x.data()[i]));
    ASSERT_EQ(dx.data()[i], x.data()[i] > 0 ? dy.data()[i] : 0.0f);
  }
  Tensor filled(x.shape(), Device::cuda);
  filled.fill(2.5f);
  Tensor host = filled.to(Device::cpu);
  for (int64_t i = 0; i < host.numel(); ++i) ASSERT_EQ(host.data()[i], 2.5f);
#endif
}

TEST(Device, RanksSpreadOverTheVisibleGpus) {
  EXPECT_EQ(select_device(DeviceChoice::cpu, 4, 1).device, Device::cpu);
  EXPECT_EQ(select_device(DeviceChoice::automatic, 0, 3).device, Device::cpu);
  const DeviceSelection s = select_device(DeviceChoice::automatic, 4, 6);
  EXPECT_EQ(s.device, Device::cuda);
  EXPECT_EQ(s.index, 2);  // local rank 6 mod 4 GPUs
  EXPECT_EQ(s.describe(), "cuda:2");
  EXPECT_EQ(select_device(DeviceChoice::cuda, 2, 3).index, 1);
  EXPECT_EQ(select_device(DeviceChoice::cuda, 1, 5).index, 0);  // ranks share the one GPU
  testing::expect_error([] { select_device(DeviceChoice::cuda, 0, 0, "no CUDA device: driver missing"); },
                        {"--device cuda", "driver missing"});
  EXPECT_EQ(parse_device_choice("auto"), DeviceChoice::automatic);
  testing::expect_error([] { parse_device_choice("gpu"); }, {"unknown device 'gpu'", "cpu, cuda or auto"});
}

TEST(Device, NcclUnlessTwoRanksDriveTheSameGpu) {
  // Slurm with --gpus-per-task=1: 4 ranks on a node, each seeing one GPU, its own.
  EXPECT_FALSE(dist::any_device_shared({11, 22, 33, 44}));
  EXPECT_FALSE(dist::any_device_shared({7}));
  EXPECT_TRUE(dist::any_device_shared({11, 22, 11}));      // two ranks on GPU 11, wherever they are
  EXPECT_TRUE(dist::any_device_shared({5, 5}));             // 2 ranks, 1 GPU (the GPU test's case)
  EXPECT_FALSE(dist::any_device_shared({-3, 3, 0, 1 << 30}));
}

TEST(Cuda, DeviceIdentityNamesTheGpu) {
  SKIP_WITHOUT_GPU();
  EXPECT_EQ(cuda_device_identity(0), cuda_device_identity(0));
  for (int i = 1; i < cuda_device_count(); ++i) EXPECT_NE(cuda_device_identity(i), cuda_device_identity(0));
}

// The NCCL reducer's whole path (events between the streams, the all-reduce per bucket, the
// compute stream's wait) on a one-rank group, so that one GPU runs what a multi-GPU job runs: a
// sum over one rank leaves every gradient as it was, and the reducer counts the sums it issued
// (which the values could not show).
TEST(Cuda, NcclReducerRunsItsBucketsOnOneGpu) {
  SKIP_WITHOUT_GPU();
#ifdef DEEPLAB_WITH_CUDA
  cuda_check(cudaSetDevice(0), "cudaSetDevice");
  dist::NcclCommunicator comm(dist::Mpi::get());
  ASSERT_EQ(comm.size(), 1);
  const std::vector<size_t> counts = {300, 50, 2000, 7};
  size_t total = 0;
  for (size_t c : counts) total += c;
  std::vector<float> host(total);
  for (size_t i = 0; i < total; ++i) host[i] = 0.25f * float(i) - 100.0f;
  DeviceArray<float> grads{int64_t(total)};
  cuda_check(cudaMemcpy(grads.get(), host.data(), total * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  CudaStream stream;
  cuda_check(cudaStreamCreate(stream.receive()), "cudaStreamCreate");
  dist::NcclGradientReducer reducer(&comm, grads.get(), counts, stream.get(), 4096);  // buckets of 1024 floats
  for (int round = 0; round < 2; ++round) {  // a second step reuses the events and buckets
    reducer.begin();
    for (size_t i = 0; i < counts.size(); ++i) reducer.ready(i, 1);
    reducer.finish();
    cuda_check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
  }
  std::vector<float> back(total);
  cuda_check(cudaMemcpy(back.data(), grads.get(), total * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy");
  EXPECT_EQ(back, host);
  EXPECT_GE(reducer.buckets(), 3u);  // 9,428 bytes in buckets of 4,096
  EXPECT_EQ(reducer.sums_issued(), int64_t(2 * reducer.buckets()));
#endif
}

TEST(Cuda, WithoutCudaTheErrorSaysWhy) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is visible";
  EXPECT_FALSE(cuda_unavailable_reason().empty());
  EXPECT_THROW(Tensor({4}, Device::cuda), Error);
  EXPECT_THROW(cuda_device_identity(0), Error);
}

}  // namespace
}  // namespace deeplab
