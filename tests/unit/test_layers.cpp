// What the operator table (test_ops.cpp) does not cover: Winograd and bf16 convolutions against
// direct fp32, Caffe's output sizes, dropout's statistics and masks in a blocked layout, clear
// errors, and the net inserting a Split where a blob has two readers.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "layer_testing.h"
#include "test_support.h"
#include "kernels/dropout_math.h"
#include "nn/concat.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/pool.h"
#include "nn/reference.h"

namespace deeplab {
namespace {

using namespace nn;
using testing::check_gradients;
using testing::expect_close;
using testing::one_layer;
using testing::random_tensor;
using testing::randomise;

TEST(Conv, WinogradAgreesWithDirect) {
  ConvSpec spec{32, 32, 3, 1, 1, 1, true, true};
  Tensor x = random_tensor({1, 32, 20, 20}, 3);
  Tensor outs[2];
  for (int k = 0; k < 2; ++k) {
    auto layer = std::make_unique<Convolution>("conv", spec, k ? ConvAlgorithm::winograd : ConvAlgorithm::direct);
    randomise(*layer, 4);
    auto net = one_layer(std::move(layer), 1, Phase::test);
    net->forward({x});
    outs[k] = net->output();
  }
  expect_close(outs[1], outs[0], 1e-4, "winograd vs direct");
}

// bf16 inference (nn/precision.h) as LargeFOV ends: a dilated convolution with ReLU, a max pool,
// a score layer. The scores agree with f32 to bf16's rounding (8-bit mantissa: 2^-9 relative per
// value) but are not f32's bit for bit; the activations between are bf16, the scores f32, and
// the kernels oneDNN's bf16 ones, not its reference code.
TEST(Conv, Bf16AgreesWithF32ToItsRounding) {
  if (!cpu_computes_bf16()) GTEST_SKIP() << "this CPU has neither AVX512-BF16 nor AMX";
  const Tensor x = random_tensor({2, 32, 21, 19}, 3);
  Tensor scores[2];
  for (Precision p : {Precision::f32, Precision::bf16}) {
    Net net(Phase::test);
    auto hidden = std::make_unique<Convolution>("hidden", ConvSpec{32, 48, 3, 1, 2, 2, true, true});
    auto score = std::make_unique<Convolution>("score", ConvSpec{48, 21, 1, 1, 0, 1, true, false});
    randomise(*hidden, 4);
    randomise(*score, 5);
    const Convolution &h = *hidden, &s = *score;
    const int a = net.add1(std::move(hidden), {net.add_input("x")});
    const int b = net.add1(std::make_unique<Pooling>("pool", PoolSpec{PoolKind::max, 3, 1, 1}), {a});
    const int c = net.add1(std::move(score), {b});
    net.mark_output(c);
    net.set_precision(p);
    net.forward({x});
    scores[p == Precision::bf16] = net.output();
    const auto want = p == Precision::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    EXPECT_EQ(net.blob(a).desc.data_type(), want);
    EXPECT_EQ(net.blob(b).desc.data_type(), want);
    EXPECT_EQ(net.blob(c).desc.data_type(), memory::data_type::f32);
    if (p == Precision::bf16) {
      EXPECT_NE(std::string(h.implementation()).find("bf16"), std::string::npos) << h.implementation();
      EXPECT_NE(std::string(s.implementation()).find("bf16"), std::string::npos) << s.implementation();
    }
  }
  expect_close(scores[1], scores[0], 2e-2, "bf16 vs f32");
  double differ = 0;
  for (int64_t i = 0; i < scores[0].numel(); ++i) differ = std::max(differ, double(std::abs(scores[1].data()[i] - scores[0].data()[i])));
  EXPECT_GT(differ, 0.0) << "bf16 gave f32's scores bit for bit: it did not run";
}

// Under bf16, a wide layer asked for Winograd (the paper's conv3_x) computes it in fp32, between
// bf16 layers: the bf16 activations are converted on the way in and its fp32 output on the way
// out, and the scores still agree with an all-fp32 run. A narrow one stays bf16 direct.
TEST(Conv, Bf16KeepsFp32WinogradOnWideLayersOnly) {
  if (!cpu_computes_bf16()) GTEST_SKIP() << "this CPU has neither AVX512-BF16 nor AMX";
  for (int wide : {128, 32}) {
    const Tensor x = random_tensor({1, 16, 13, 11}, 3);
    Tensor scores[2];
    for (Precision p : {Precision::f32, Precision::bf16}) {
      Net net(Phase::test);
      auto first = std::make_unique<Convolution>("first", ConvSpec{16, wide, 3, 1, 1, 1, true, true});
      auto middle = std::make_unique<Convolution>("middle", ConvSpec{wide, wide, 3, 1, 1, 1, true, true},
                                                  ConvAlgorithm::winograd);
      auto score = std::make_unique<Convolution>("score", ConvSpec{wide, 21, 1, 1, 0, 1, true, false});
      randomise(*first, 4);
      randomise(*middle, 5);
      randomise(*score, 6);
      const Convolution &f = *first, &m = *middle, &s = *score;
      const int a = net.add1(std::move(first), {net.add_input("x")});
      const int b = net.add1(std::move(middle), {a});
      net.mark_output(net.add1(std::move(score), {b}));
      net.set_precision(p);
      net.forward({x});
      scores[p == Precision::bf16] = net.output();
      if (p == Precision::f32) continue;
      EXPECT_NE(std::string(f.implementation()).find("bf16"), std::string::npos) << f.implementation();
      EXPECT_NE(std::string(s.implementation()).find("bf16"), std::string::npos) << s.implementation();
      EXPECT_EQ(net.blob(a).desc.data_type(), memory::data_type::bf16);
      const bool fp32_winograd = wide >= 128;
      EXPECT_EQ(std::string(m.implementation()).find("wino") != std::string::npos, fp32_winograd)
          << wide << " channels: " << m.implementation();
      EXPECT_EQ(net.blob(b).desc.data_type(), fp32_winograd ? memory::data_type::f32 : memory::data_type::bf16);
    }
    expect_close(scores[1], scores[0], 2e-2, "bf16 vs f32");
  }
}

TEST(Conv, TrainingIsF32Only) {
  Net net(Phase::train);
  net.mark_output(net.add1(std::make_unique<Convolution>("c", ConvSpec{3, 4, 3, 1, 1, 1, true, false}), {net.add_input("x")}));
  testing::expect_error([&] { net.set_precision(Precision::bf16); }, {"fp32 only"});
}

TEST(Conv, OutputSizeIsCaffes) {
  EXPECT_EQ(conv_out_size(321, 3, 1, 1, 1), 321);
  EXPECT_EQ(conv_out_size(41, 3, 1, 12, 12), 41);
  EXPECT_EQ(conv_out_size(41, 4, 1, 6, 4), 41);
  EXPECT_EQ(conv_out_size(321, 3, 8, 1, 1), 41);
  EXPECT_EQ(conv_out_size(10, 3, 2, 1, 1), 5);
  EXPECT_EQ(conv_out_size(2, 3, 2, 0, 1), 0);  // no window fits
  auto net = one_layer(std::make_unique<Convolution>("tiny", ConvSpec{1, 1, 3, 2, 0, 1, true, false}), 1, Phase::test);
  EXPECT_THROW(net->forward({Tensor({1, 1, 2, 2})}), Error);
}

TEST(Pool, OutputSizeRoundsUpAsCaffe) {
  EXPECT_EQ(pool_out_size(321, 3, 2, 1), 161);
  EXPECT_EQ(pool_out_size(161, 3, 2, 1), 81);
  EXPECT_EQ(pool_out_size(81, 3, 2, 1), 41);
  EXPECT_EQ(pool_out_size(41, 3, 1, 1), 41);
  EXPECT_EQ(pool_out_size(513, 3, 2, 1), 257);
  EXPECT_EQ(pool_out_size(320, 3, 2, 1), 161);  // rounded up: floor would give 160
  EXPECT_EQ(pool_out_size(6, 3, 2, 0), 3);      // ceil((6-3)/2)+1 = 3
  EXPECT_EQ(pool_out_size(4, 2, 2, 1), 3);
  EXPECT_EQ(pool_out_size(5, 2, 2, 1), 3);      // a 4th window would start in the padding: dropped
}

TEST(Dropout, KeepsTheExpectedShareAndScalesByTheInverse) {
  auto layer = std::make_unique<Dropout>("drop", 0.5f, 3);
  auto net = one_layer(std::move(layer), 1, Phase::train);
  Tensor x({1, 16, 32, 32});
  x.fill(1.0f);
  net->forward({x});
  Tensor y = net->output();
  int64_t kept = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    ASSERT_TRUE(y.data()[i] == 0.0f || y.data()[i] == 2.0f);
    kept += y.data()[i] != 0.0f;
  }
  EXPECT_NEAR(double(kept) / y.numel(), 0.5, 0.03);
}

TEST(Dropout, SameSeedSameMask) {
  Tensor x = random_tensor({1, 8, 6, 6}, 2);
  Tensor outs[2];
  for (auto& out : outs) {
    auto net = one_layer(std::make_unique<Dropout>("drop", 0.3f, 42), 1, Phase::train);
    net->forward({x});
    out = net->output();
  }
  expect_close(outs[0], outs[1], 0, "same seed");
}

// The mask of element (c, y, x) of image b is dropout_scale(seed, key b, NCHW index), in whatever
// layout the producing layer chose (a convolution's blocked one here): the formula the CUDA
// kernel evaluates, so both backends draw the same masks.
TEST(Dropout, KeyedMasksFollowTheSharedFormulaInAnyLayout) {
  const ConvSpec spec{3, 32, 3, 1, 1, 1, true, false};
  Net net(Phase::train);
  const int x = net.add_input("data");
  const int conv = net.add1(std::make_unique<Convolution>("conv", spec), {x});
  auto layer = std::make_unique<Dropout>("drop", 0.5f, 77);
  Dropout* drop = layer.get();
  net.mark_output(net.add1(std::move(layer), {conv}));
  const std::vector<uint64_t> keys = {1234, 99};
  drop->set_sample_keys(keys);
  Tensor image = random_tensor({2, 3, 7, 9}, 3);
  net.forward({image});
  Tensor y = net.output();
  Param* w = net.find_param("conv/weight");
  Param* b = net.find_param("conv/bias");
  Tensor plain = conv_reference(image, w->value, b->value, spec);
  const int64_t per_image = plain.numel() / 2;
  int64_t kept = 0;
  for (int64_t i = 0; i < plain.numel(); ++i) {
    const float scale = kernels::dropout_scale(77, keys[i / per_image], uint64_t(i % per_image), 0.5f);
    ASSERT_NEAR(y.data()[i], plain.data()[i] * scale, 1e-4f * (1 + std::fabs(plain.data()[i]))) << "element " << i;
    kept += scale != 0.0f;
  }
  EXPECT_NEAR(double(kept) / double(plain.numel()), 0.5, 0.05);
}

TEST(Concat, MismatchedSizesAreAClearError) {
  auto net = one_layer(std::make_unique<Concat>("cat"), 2, Phase::test);
  try {
    net->forward({random_tensor({1, 2, 4, 4}, 1), random_tensor({1, 2, 5, 4}, 2)});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cat"), std::string::npos) << e.what();
  }
}

TEST(Split, ABlobReadTwiceGetsTheSumOfBothGradients) {
  // y = conv_a(x) ++ conv_b(x): x feeds two layers, so the net inserts a Split.
  auto net = std::make_unique<Net>(Phase::train);
  int x = net->add_input("x", true);
  auto a = std::make_unique<Convolution>("a", ConvSpec{3, 2, 3, 1, 1, 1, true, false});
  auto b = std::make_unique<Convolution>("b", ConvSpec{3, 2, 1, 1, 0, 1, true, true});
  randomise(*a, 1);
  randomise(*b, 2);
  int ya = net->add1(std::move(a), {x}), yb = net->add1(std::move(b), {x});
  net->mark_output(net->add1(std::make_unique<Concat>("cat"), {ya, yb}));
  check_gradients(*net, {random_tensor({1, 3, 6, 6}, 3)});
  bool has_split = false;
  for (auto& n : net->nodes()) has_split |= std::string(n.layer->type()) == "Split";
  EXPECT_TRUE(has_split);
}

}  // namespace
}  // namespace deeplab
