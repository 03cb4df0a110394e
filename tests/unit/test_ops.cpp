// The operator table, in the manner of ggml's test-backend-ops: every layer at the shapes that
// matter (dilated, strided and padded convolutions, blocked channel counts, both poolings with
// Caffe's rounded-up sizes and clipped windows, dropout, concat, split), one row per case. Every
// row runs the same checks, and a failure names the row ("Ops/OpTest.Gradients/conv_dilated2"):
//   Reference   the layer's forward, in the test and in the train phase, against plain loops
//   Gradients   its backward against finite differences (gradcheck.h)
//   Cuda        where a GPU is visible, the GPU executor running the row's one-layer net against
//               the CPU, forward and backward (input and parameter gradients), to 1e-4 of the
//               largest value; rows of one input and one output (concat and split run inside
//               whole networks in test_gpu_network.cpp), convolutions with a bias
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "layer_testing.h"
#include "kernels/dropout_math.h"
#include "nn/concat.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/pool.h"
#include "nn/reference.h"
#include "nn/split.h"
#include "test_support.h"
#ifdef DEEPLAB_WITH_CUDA
#include <cuda_runtime.h>

#include "gpu/gpu_network.h"
#endif

namespace deeplab {
namespace {

using namespace nn;
using testing::expect_close;
using testing::one_layer;
using testing::random_tensor;
using testing::randomise;
using testing::relative_difference;

// Inputs: uniform in [-1, 1], or distinct values spaced wider than the finite-difference step,
// so no max-pool window is ever tied.
enum class Values { uniform, spaced };

Tensor spaced_tensor(const Shape& shape, uint64_t seed) {
  Tensor t(shape);
  std::vector<int64_t> order(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) order[i] = i;
  Rng rng(seed);
  for (int64_t i = t.numel() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = 0.05f * float(order[i]) - 0.025f * float(t.numel());
  return t;
}

// What a row is for: its checks ask for a layer whose parameters suit them.
enum class Purpose { reference, gradients };

struct OpCase {
  std::string name;
  std::vector<Shape> inputs;
  std::function<std::unique_ptr<Layer>(Purpose)> make;
  // The output by plain loops from the inputs, the layer (its parameters) and the phase.
  std::function<Tensor(const std::vector<Tensor>&, Layer&, Phase)> reference;
  Values values = Values::uniform;
  std::vector<Phase> phases = {Phase::test, Phase::train};  // where the net can hold the layer
  double tolerance = 1e-4;  // relative to the largest output
  // Pooling: the plain loops' own backward (pool.cpp falls back on it), dx from (x, dy).
  std::function<Tensor(const Tensor&, const Tensor&)> reference_backward = {};
  std::vector<uint64_t> dropout_keys = {};  // the keys the layer was given (the GPU needs them too)
};

// ---- convolution -------------------------------------------------------------------------

// For a fused ReLU: small weights and biases of +2 / -2 by channel keep every pre-activation
// at least 1 away from the kink (inputs in [-1, 1]), so finite differences never straddle it,
// and both branches (passed and clipped) are checked.
void randomise_away_from_kink(Convolution& conv, uint64_t seed) {
  const ConvSpec& s = conv.spec();
  const float scale = 1.0f / float(s.in_channels * s.kernel * s.kernel);
  conv.weight().value = random_tensor(conv.weight().value.shape(), seed, -scale, scale);
  for (int o = 0; o < s.out_channels; ++o) conv.bias().value.data()[o] = o % 2 ? -2.0f : 2.0f;
  ++conv.weight().version;
}

OpCase conv_case(const std::string& shape, const ConvSpec& spec, const Shape& input) {
  OpCase c;
  c.name = "conv_" + shape;
  c.inputs = {input};
  c.make = [spec](Purpose purpose) {
    auto conv = std::make_unique<Convolution>("conv", spec);
    if (purpose == Purpose::gradients && spec.relu)
      randomise_away_from_kink(*conv, 12);
    else
      randomise(*conv, 11);
    return conv;
  };
  c.reference = [spec](const std::vector<Tensor>& in, Layer& layer, Phase) {
    auto& conv = dynamic_cast<Convolution&>(layer);
    return conv_reference(in[0], conv.weight().value, spec.bias ? conv.bias().value : Tensor(), spec);
  };
  return c;
}

// ---- pooling -----------------------------------------------------------------------------

OpCase pool_case(const std::string& shape, const PoolSpec& spec, const Shape& input) {
  OpCase c;
  c.name = "pool_" + shape;
  c.inputs = {input};
  c.make = [spec](Purpose) { return std::make_unique<Pooling>("pool", spec); };
  c.reference = [spec](const std::vector<Tensor>& in, Layer&, Phase) { return pool_reference(in[0], spec); };
  c.reference_backward = [spec](const Tensor& x, const Tensor& dy) { return pool_reference_backward(x, dy, spec); };
  c.values = Values::spaced;
  c.tolerance = 1e-5;
  return c;
}

// ---- dropout -----------------------------------------------------------------------------

// Training masks are keyed per image: element i of image b is scaled by dropout_scale(seed, key b,
// i), the formula the CUDA kernel evaluates too; testing passes the input through.
constexpr uint64_t kDropoutSeed = 5;
const std::vector<uint64_t> kDropoutKeys = {1234, 99};

OpCase dropout_case(const std::string& shape, float ratio, const Shape& input) {
  OpCase c;
  c.name = "dropout_" + shape;
  c.inputs = {input};
  c.make = [ratio](Purpose) {
    auto drop = std::make_unique<Dropout>("drop", ratio, kDropoutSeed);
    drop->set_sample_keys(kDropoutKeys);
    return drop;
  };
  c.dropout_keys = kDropoutKeys;
  c.reference = [ratio](const std::vector<Tensor>& in, Layer&, Phase phase) {
    Tensor y = in[0].clone();
    if (phase == Phase::test) return y;
    const int64_t per_image = y.numel() / y.shape()[0];
    for (int64_t i = 0; i < y.numel(); ++i)
      y.data()[i] *= kernels::dropout_scale(kDropoutSeed, kDropoutKeys[size_t(i / per_image)], uint64_t(i % per_image), ratio);
    return y;
  };
  return c;
}

// ---- concat and split --------------------------------------------------------------------

OpCase concat_case(const std::string& shape, const std::vector<Shape>& inputs) {
  OpCase c;
  c.name = "concat_" + shape;
  c.inputs = inputs;
  c.make = [](Purpose) { return std::make_unique<Concat>("cat"); };
  c.reference = [](const std::vector<Tensor>& in, Layer&, Phase) {
    const Shape& first = in[0].shape();
    int64_t channels = 0;
    for (const Tensor& t : in) channels += t.shape()[1];
    Tensor y({first[0], channels, first[2], first[3]});
    for (int64_t b = 0; b < first[0]; ++b) {
      int64_t to = 0;
      for (const Tensor& t : in)
        for (int64_t ch = 0; ch < t.shape()[1]; ++ch, ++to)
          for (int64_t yy = 0; yy < first[2]; ++yy)
            for (int64_t xx = 0; xx < first[3]; ++xx) y.at(b, to, yy, xx) = t.at(b, ch, yy, xx);
    }
    return y;
  };
  c.tolerance = 0;
  return c;
}

// A blob read by two layers: each reader gets the blob, and the gradients are summed. Only
// training nets hold splits (inference needs no separate gradients).
OpCase split_case(const std::string& shape, int outputs, const Shape& input) {
  OpCase c;
  c.name = "split_" + shape;
  c.inputs = {input};
  c.make = [outputs](Purpose) { return std::make_unique<Split>("split", outputs); };
  c.reference = [](const std::vector<Tensor>& in, Layer&, Phase) { return in[0].clone(); };
  c.phases = {Phase::train};
  c.tolerance = 0;
  return c;
}

// ---- the table ---------------------------------------------------------------------------

std::vector<OpCase> all_cases() {
  return {
      conv_case("plain3x3", {3, 5, 3, 1, 1, 1, true, false}, {2, 3, 9, 8}),
      conv_case("dilated2", {4, 6, 3, 1, 2, 2, true, true}, {1, 4, 11, 10}),
      conv_case("dilated12_small_map", {16, 16, 3, 1, 12, 12, true, true}, {1, 16, 7, 9}),
      conv_case("dilated4_fc6_of_a_3x3_classifier", {8, 8, 3, 1, 4, 4, true, true}, {1, 8, 12, 12}),
      conv_case("strided", {3, 4, 3, 2, 1, 1, true, false}, {2, 3, 10, 9}),
      conv_case("stride8_pad1", {3, 8, 3, 8, 1, 1, true, true}, {1, 3, 33, 25}),
      conv_case("kernel4_dilation4", {5, 7, 4, 1, 6, 4, true, true}, {1, 5, 13, 12}),
      conv_case("one_by_one_nobias", {32, 21, 1, 1, 0, 1, false, false}, {2, 32, 5, 6}),
      conv_case("blocked16", {16, 32, 3, 1, 1, 1, true, true}, {1, 16, 12, 12}),
      pool_case("max_s2_odd", {PoolKind::max, 3, 2, 1}, {1, 3, 9, 9}),
      pool_case("max_s2_even_roundup", {PoolKind::max, 3, 2, 1}, {2, 4, 10, 8}),
      pool_case("max_s1", {PoolKind::max, 3, 1, 1}, {1, 16, 7, 6}),
      pool_case("max_blocked", {PoolKind::max, 3, 2, 1}, {1, 32, 11, 12}),
      pool_case("max_2x2_vgg", {PoolKind::max, 2, 2, 0}, {1, 8, 8, 6}),
      pool_case("avg_s1_pool5a", {PoolKind::avg, 3, 1, 1}, {1, 16, 7, 7}),
      pool_case("avg_s2_odd", {PoolKind::avg, 3, 2, 1}, {1, 3, 9, 11}),
      pool_case("avg_s2_even_clipped_window", {PoolKind::avg, 3, 2, 1}, {2, 3, 10, 8}),
      pool_case("avg_nopad_roundup", {PoolKind::avg, 3, 2, 0}, {1, 2, 8, 8}),
      dropout_case("half", 0.5f, {2, 3, 4, 4}),
      dropout_case("fc_shaped", 0.4f, {2, 16, 3, 3}),
      concat_case("three_inputs", {{2, 3, 4, 5}, {2, 16, 4, 5}, {2, 5, 4, 5}}),
      concat_case("heads_and_fc7", {{1, 8, 5, 5}, {1, 8, 5, 5}, {1, 32, 5, 5}}),
      split_case("two_readers", 2, {1, 3, 6, 6}),
      split_case("three_readers", 3, {2, 4, 3, 5}),
  };
}

std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed) {
  std::vector<Tensor> inputs;
  for (const Shape& s : c.inputs)
    inputs.push_back(c.values == Values::spaced ? spaced_tensor(s, seed++) : random_tensor(s, seed++));
  return inputs;
}

// gtest prints a failing row by its name rather than its bytes.
void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }

class OpTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpTest, Reference) {
  const OpCase& c = GetParam();
  for (Phase phase : c.phases) {
    auto layer = c.make(Purpose::reference);
    Layer& op = *layer;
    auto net = one_layer(std::move(layer), int(c.inputs.size()), phase);
    const std::vector<Tensor> inputs = make_inputs(c, 5);
    net->forward(inputs);
    const Tensor want = c.reference(inputs, op, phase);
    for (int k = 0; k < op.num_outputs(); ++k)
      expect_close(net->output(k), want, c.tolerance,
                   c.name + (phase == Phase::test ? ", test phase" : ", train phase") + ", output " + std::to_string(k));
  }
}

TEST_P(OpTest, Gradients) {
  const OpCase& c = GetParam();
  auto net = one_layer(c.make(Purpose::gradients), int(c.inputs.size()), Phase::train);
  testing::check_gradients(*net, make_inputs(c, 6));
}

INSTANTIATE_TEST_SUITE_P(Ops, OpTest, ::testing::ValuesIn(all_cases()),
                         [](const auto& info) { return info.param.name; });

#ifdef DEEPLAB_WITH_CUDA

// Rows of one input and one output; convolutions with a bias (the GPU path needs one, and every
// convolution of the networks has one).
std::vector<OpCase> cuda_cases() {
  std::vector<OpCase> rows;
  for (OpCase& c : all_cases()) {
    auto layer = c.make(Purpose::reference);
    auto* conv = dynamic_cast<Convolution*>(layer.get());
    if (c.inputs.size() == 1 && layer->num_outputs() == 1 && !(conv && !conv->spec().bias)) rows.push_back(std::move(c));
  }
  return rows;
}

class OpCudaTest : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpCudaTest, Cuda) {
  SKIP_WITHOUT_GPU();
  const OpCase& c = GetParam();
  auto net = one_layer(c.make(Purpose::gradients), 1, Phase::train);
  const Tensor x = make_inputs(c, 7)[0];
  net->forward({x});
  const Tensor want = net->output().clone();
  const Tensor dy = random_tensor(want.shape(), 8);
  net->zero_grads();
  net->backward({dy});
  gpu::GpuNetwork gpu(*net, {});
  gpu.set_dropout_keys(c.dropout_keys.empty() ? std::vector<uint64_t>(size_t(x.dim(0)), 0) : c.dropout_keys);
  const Tensor& got = gpu.forward(x);
  gpu.synchronize();
  EXPECT_LT(relative_difference(got.to(Device::cpu), want), 1e-4) << c.name << ": forward";
  gpu.zero_grads();
  gpu.backward(dy.to(Device::cuda));
  gpu.synchronize();
  EXPECT_LT(relative_difference(gpu.input_diff().to(Device::cpu), net->input_diff(0)), 1e-4) << c.name << ": input gradient";
  Tensor grads({int64_t(std::max<size_t>(gpu.param_floats(), 1))});
  gpu::check(cudaMemcpy(grads.data(), gpu.grads(), gpu.param_floats() * sizeof(float), cudaMemcpyDeviceToHost),
             "cudaMemcpy (gradients)");
  for (const auto& slot : gpu.slots()) {
    Tensor part(slot.host->grad.shape());
    std::copy(grads.data() + slot.offset, grads.data() + slot.offset + slot.count, part.data());
    EXPECT_LT(relative_difference(part, slot.host->grad), 1e-4) << c.name << ": " << slot.host->name;
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, OpCudaTest, ::testing::ValuesIn(cuda_cases()),
                         [](const auto& info) { return info.param.name; });

#endif

// The rows whose plain loops have a backward of their own: it against finite differences of the
// loops' forward, element by element.
TEST(OpReference, BackwardMatchesFiniteDifferences) {
  int rows = 0;
  for (const OpCase& c : all_cases()) {
    if (!c.reference_backward) continue;
    SCOPED_TRACE(c.name);
    ++rows;
    auto layer = c.make(Purpose::reference);
    Tensor x = make_inputs(c, 10)[0];
    Tensor y = c.reference({x}, *layer, Phase::test);
    Tensor r = random_tensor(y.shape(), 11);
    Tensor dx = c.reference_backward(x, r);
    auto objective = [&] {
      Tensor out = c.reference({x}, *layer, Phase::test);
      double l = 0;
      for (int64_t i = 0; i < out.numel(); ++i) l += double(out.data()[i]) * r.data()[i];
      return l;
    };
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float saved = x.data()[i];
      x.data()[i] = saved + 0.01f;
      const double plus = objective();
      x.data()[i] = saved - 0.01f;
      const double minus = objective();
      x.data()[i] = saved;
      ASSERT_NEAR(dx.data()[i], (plus - minus) / 0.02, 2e-3) << "element " << i;
    }
  }
  EXPECT_GE(rows, 9);  // every pooling row
}

}  // namespace
}  // namespace deeplab
