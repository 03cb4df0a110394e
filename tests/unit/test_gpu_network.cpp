// The GPU backend against its CPU twin: every operator forward and backward to 1e-4 relative in
// fp32, through whole networks (largefov, and msc-largefov for concat and split), and the loss,
// label shrinking, resize and SGD kernels. Skipped, with the reason, where no GPU is visible.
#include <gtest/gtest.h>

#include <cmath>

#include "core/device.h"
#include "gpu/op_support.h"
#include "gradcheck.h"
#include "layer_testing.h"
#include "test_support.h"
#include "nn/conv.h"
#include "nn/softmax.h"
#include "train/solver.h"
#ifdef DEEPLAB_WITH_CUDA
#include <cuda_runtime.h>

#include "gpu/gpu_network.h"
#include "kernels.h"
#endif

namespace deeplab {
namespace {

using testing::random_tensor;
using testing::relative_difference;

ModelSpec small_spec(ModelKind kind) {
  ModelSpec s;
  s.kind = kind;
  s.num_classes = 5;
  s.width = 0.125;
  s.conv_policy = ConvPolicy::direct;
  if (is_classifier(kind)) s.input_size = 64;
  return s;
}

#ifdef DEEPLAB_WITH_CUDA

class GpuNetworkTest : public ::testing::TestWithParam<ModelKind> {};

TEST_P(GpuNetworkTest, ForwardMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  Model model(small_spec(GetParam()), nn::Phase::test, 3);
  gpu::GpuNetwork gpu(model, {});
  const Tensor x = random_tensor({2, 3, 49, 57}, 1, -100, 100);
  const Tensor want = model.forward(x);
  const Tensor& scores = gpu.forward(x);
  gpu.synchronize();
  EXPECT_LT(relative_difference(scores.to(Device::cpu), want), 1e-4);
}

TEST_P(GpuNetworkTest, BackwardMatchesTheCpuWithDropout) {
  SKIP_WITHOUT_GPU();
  Model model(small_spec(GetParam()), nn::Phase::train, 3);
  gpu::GpuNetwork gpu(model, {});
  const Tensor x = random_tensor({2, 3, 41, 41}, 1, -100, 100);
  const std::vector<uint64_t> keys = {17, 4242};
  model.set_dropout_keys(keys);
  gpu.set_dropout_keys(keys);
  const Tensor scores = model.forward(x);
  const Tensor dy = random_tensor(scores.shape(), 2);
  model.net().zero_grads();
  model.backward(dy);
  const Tensor& gpu_scores = gpu.forward(x);
  gpu.synchronize();
  EXPECT_LT(relative_difference(gpu_scores.to(Device::cpu), scores), 1e-4);
  gpu.zero_grads();
  gpu.backward(dy.to(Device::cuda));
  gpu.synchronize();
  Tensor grads({int64_t(gpu.param_floats())});
  gpu::check(cudaMemcpy(grads.data(), gpu.grads(), grads.numel() * sizeof(float), cudaMemcpyDeviceToHost), "copy");
  for (const auto& slot : gpu.slots()) {
    Tensor got(slot.host->grad.shape());
    std::copy(grads.data() + slot.offset, grads.data() + slot.offset + slot.count, got.data());
    EXPECT_LT(relative_difference(got, slot.host->grad), 1e-4) << slot.host->name;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GpuNetworkTest, ::testing::Values(ModelKind::largefov, ModelKind::msc_largefov),
                         [](const ::testing::TestParamInfo<ModelKind>& info) {
                           return info.param == ModelKind::largefov ? "largefov" : "msc_largefov";
                         });

TEST(GpuKernels, LossAndShrinkMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor scores = random_tensor({2, 6, 9, 11}, 5, -4, 4);
  LabelMap full(2, 65, 81);
  Rng rng(9);
  for (auto& l : full.data) l = rng.uniform() < 0.1f ? 255 : uint8_t(rng.below(6));
  const LabelMap small = nn::shrink_labels(full, 9, 11);
  const nn::LossResult want = nn::softmax_cross_entropy(scores, small, nn::LossNormalization::none);
  gpu::DeviceArray<uint8_t> labels(full.data.size()), shrunk(small.data.size());
  gpu::DeviceArray<double> sums(4);
  cudaMemcpy(labels.get(), full.data.data(), full.data.size(), cudaMemcpyHostToDevice);
  cudaMemset(sums.get(), 0, 4 * sizeof(double));
  cuda::shrink_labels(labels.get(), shrunk.get(), 2, 65, 81, 9, 11, 0);
  const Tensor gs = scores.to(Device::cuda);
  Tensor grad(scores.shape(), Device::cuda);
  cuda::softmax_cross_entropy(gs.data(), shrunk.get(), grad.data(), sums.get(), 2, 6, 99, 0);
  std::vector<uint8_t> got_labels(small.data.size());
  double got[4];
  cudaMemcpy(got_labels.data(), shrunk.get(), got_labels.size(), cudaMemcpyDeviceToHost);
  cudaMemcpy(got, sums.get(), sizeof got, cudaMemcpyDeviceToHost);
  EXPECT_EQ(got_labels, small.data);
  EXPECT_NEAR(got[0], want.loss, 1e-6 * std::fabs(want.loss));
  EXPECT_EQ(got[1], double(want.labelled));
  EXPECT_EQ(got[2], double(want.correct));
  EXPECT_EQ(got[3], 0.0);
  EXPECT_LT(relative_difference(grad.to(Device::cpu), want.grad), 1e-5);
}

TEST(GpuKernels, SgdMatchesTheSolver) {
  SKIP_WITHOUT_GPU();
  Tensor w = random_tensor({1000}, 8), g = random_tensor({1000}, 9), v = random_tensor({1000}, 10);
  Tensor gw = w.to(Device::cuda), gg = g.to(Device::cuda), gv = v.to(Device::cuda);
  cuda::sgd_update(gw.data(), gv.data(), gg.data(), 1000, 0.25f, 0.01f, 5e-4f, 0.9f, 0);
  for (int64_t i = 0; i < 1000; ++i) {
    float vi = 0.9f * v.data()[i] + 0.01f * (g.data()[i] * 0.25f + 5e-4f * w.data()[i]);
    w.data()[i] -= vi, v.data()[i] = vi;
  }
  EXPECT_LT(relative_difference(gw.to(Device::cpu), w), 1e-6);
  EXPECT_LT(relative_difference(gv.to(Device::cpu), v), 1e-6);
}

#else

TEST(GpuNetwork, NeedsACudaBuild) { SKIP_GPU_TEST(cuda_unavailable_reason()); }

#endif

// The GPU executor's operator table is checked where a net is built, before any device work, so
// these run on every machine: every model the program builds passes it, in both phases, and a net
// it cannot run is refused with every reason named.
TEST(GpuOpSupport, EveryModelsNetRunsOnTheGpu) {
  for (ModelKind kind : {ModelKind::largefov, ModelKind::deeplab, ModelKind::msc_largefov, ModelKind::vgg16})
    for (nn::Phase phase : {nn::Phase::test, nn::Phase::train}) {
      Model model(small_spec(kind), phase, 1);
      model.net().compile();  // splits included, as the executor sees it
      EXPECT_TRUE(gpu::unsupported_parts(model.net()).empty()) << model_kind_name(kind);
      EXPECT_NO_THROW(gpu::check_supported(model.net()));
    }
}

TEST(GpuOpSupport, RefusesWhatTheExecutorCannotRunNamingEachPart) {
  nn::Net net(nn::Phase::test);
  const int x = net.add_input("data");
  nn::ConvSpec with_bias{3, 4, 3, 1, 1, 1, true, true};
  nn::ConvSpec no_bias{4, 4, 1, 1, 0, 1, false, false};
  const int a = net.add1(std::make_unique<nn::Convolution>("conv_a", with_bias), {x});
  const int b = net.add1(std::make_unique<nn::Convolution>("conv_b_nobias", no_bias), {a});
  net.mark_output(a);
  net.mark_output(b);
  const std::vector<std::string> parts = gpu::unsupported_parts(net);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0].find("1 inputs and 2 outputs"), std::string::npos) << parts[0];
  EXPECT_NE(parts[1].find("conv_b_nobias"), std::string::npos) << parts[1];
  EXPECT_NE(parts[1].find("without a bias"), std::string::npos) << parts[1];
  EXPECT_EQ(gpu::unsupported_reason(*net.nodes()[0].layer), "");
  try {
    gpu::check_supported(net);
    ADD_FAILURE() << "a net with a bias-less convolution and two outputs was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv_b_nobias"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace deeplab
