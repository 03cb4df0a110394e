// Every operator: forward against a plain loop (conv, pool), backward against finite
// differences, on dilated, strided and padded convolutions and both kinds of pooling with
// Caffe's rounded-up output size.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
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
using testing::random_tensor;

void expect_close(const Tensor& got, const Tensor& want, double rel, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  double max_abs = 0;
  for (int64_t i = 0; i < want.numel(); ++i) max_abs = std::max(max_abs, double(std::abs(want.data()[i])));
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(got.data()[i], want.data()[i], rel * std::max(1.0, max_abs)) << what << " element " << i;
}

// A net holding one layer; its inputs ask for gradients.
std::unique_ptr<Net> one_layer(std::unique_ptr<Layer> layer, int inputs, Phase phase) {
  auto net = std::make_unique<Net>(phase);
  std::vector<int> in;
  for (int i = 0; i < inputs; ++i) in.push_back(net->add_input(std::string(1, char('a' + i)), true));
  for (int out : net->add(std::move(layer), in)) net->mark_output(out);
  return net;
}

void randomise(Convolution& conv, uint64_t seed) {
  conv.weight().value = random_tensor(conv.weight().value.shape(), seed, -0.5f, 0.5f);
  if (conv.spec().bias) conv.bias().value = random_tensor(conv.bias().value.shape(), seed + 1, -0.5f, 0.5f);
  ++conv.weight().version;
}

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

struct ConvCase {
  const char* name;
  ConvSpec spec;
  Shape input;
};

const ConvCase kConvCases[] = {
    {"plain3x3", {3, 5, 3, 1, 1, 1, true, false}, {2, 3, 9, 8}},
    {"dilated2", {4, 6, 3, 1, 2, 2, true, true}, {1, 4, 11, 10}},
    {"dilated12_small_map", {16, 16, 3, 1, 12, 12, true, true}, {1, 16, 7, 9}},
    {"strided", {3, 4, 3, 2, 1, 1, true, false}, {2, 3, 10, 9}},
    {"stride8_pad1", {3, 8, 3, 8, 1, 1, true, true}, {1, 3, 33, 25}},
    {"kernel4_dilation4", {5, 7, 4, 1, 6, 4, true, true}, {1, 5, 13, 12}},
    {"one_by_one_nobias", {32, 21, 1, 1, 0, 1, false, false}, {2, 32, 5, 6}},
    {"blocked16", {16, 32, 3, 1, 1, 1, true, true}, {1, 16, 12, 12}},
};

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTest, MatchesLoopReference) {
  const ConvCase& c = GetParam();
  for (Phase phase : {Phase::test, Phase::train}) {
    auto layer = std::make_unique<Convolution>("conv", c.spec);
    randomise(*layer, 11);
    Tensor w = layer->weight().value, b = c.spec.bias ? layer->bias().value : Tensor();
    auto net = one_layer(std::move(layer), 1, phase);
    Tensor x = random_tensor(c.input, 5);
    net->forward({x});
    expect_close(net->output(), conv_reference(x, w, b, c.spec), 1e-4, c.name);
  }
}

TEST_P(ConvTest, GradientsMatchFiniteDifferences) {
  const ConvCase& c = GetParam();
  auto layer = std::make_unique<Convolution>("conv", c.spec);
  if (c.spec.relu)
    randomise_away_from_kink(*layer, 12);
  else
    randomise(*layer, 12);
  auto net = one_layer(std::move(layer), 1, Phase::train);
  check_gradients(*net, {random_tensor(c.input, 6)});
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvTest, ::testing::ValuesIn(kConvCases),
                         [](const auto& info) { return std::string(info.param.name); });

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

struct PoolCase {
  const char* name;
  PoolSpec spec;
  Shape input;
};

const PoolCase kPoolCases[] = {
    {"max_s2_odd", {PoolKind::max, 3, 2, 1}, {1, 3, 9, 9}},
    {"max_s2_even_roundup", {PoolKind::max, 3, 2, 1}, {2, 4, 10, 8}},
    {"max_s1", {PoolKind::max, 3, 1, 1}, {1, 16, 7, 6}},
    {"max_blocked", {PoolKind::max, 3, 2, 1}, {1, 32, 11, 12}},
    {"avg_s1_pool5a", {PoolKind::avg, 3, 1, 1}, {1, 16, 7, 7}},
    {"avg_s2_odd", {PoolKind::avg, 3, 2, 1}, {1, 3, 9, 11}},
    {"avg_s2_even_clipped_window", {PoolKind::avg, 3, 2, 1}, {2, 3, 10, 8}},
    {"avg_nopad_roundup", {PoolKind::avg, 3, 2, 0}, {1, 2, 8, 8}},
};

class PoolTest : public ::testing::TestWithParam<PoolCase> {};

// Distinct values spaced wider than the finite-difference step, so no max is ever tied.
Tensor spaced_tensor(const Shape& shape, uint64_t seed) {
  Tensor t(shape);
  std::vector<int64_t> order(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) order[i] = i;
  Rng rng(seed);
  for (int64_t i = t.numel() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = 0.05f * float(order[i]) - 0.025f * float(t.numel());
  return t;
}

TEST_P(PoolTest, MatchesLoopReference) {
  const PoolCase& c = GetParam();
  for (Phase phase : {Phase::test, Phase::train}) {
    auto net = one_layer(std::make_unique<Pooling>("pool", c.spec), 1, phase);
    Tensor x = random_tensor(c.input, 8);
    net->forward({x});
    expect_close(net->output(), pool_reference(x, c.spec), 1e-5, c.name);
  }
}

TEST_P(PoolTest, GradientsMatchFiniteDifferences) {
  const PoolCase& c = GetParam();
  auto net = one_layer(std::make_unique<Pooling>("pool", c.spec), 1, Phase::train);
  check_gradients(*net, {spaced_tensor(c.input, 9)});
}

TEST_P(PoolTest, ReferenceBackwardMatchesFiniteDifferences) {
  const PoolCase& c = GetParam();
  Tensor x = spaced_tensor(c.input, 10);
  Tensor y = pool_reference(x, c.spec);
  Tensor r = random_tensor(y.shape(), 11);
  Tensor dx = pool_reference_backward(x, r, c.spec);
  auto objective = [&] {
    Tensor out = pool_reference(x, c.spec);
    double l = 0;
    for (int64_t i = 0; i < out.numel(); ++i) l += double(out.data()[i]) * r.data()[i];
    return l;
  };
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float saved = x.data()[i];
    x.data()[i] = saved + 0.01f;
    double plus = objective();
    x.data()[i] = saved - 0.01f;
    double minus = objective();
    x.data()[i] = saved;
    EXPECT_NEAR(dx.data()[i], (plus - minus) / 0.02, 2e-3) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolTest, ::testing::ValuesIn(kPoolCases),
                         [](const auto& info) { return std::string(info.param.name); });

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

TEST(Dropout, IsTheIdentityAtTestTime) {
  auto net = one_layer(std::make_unique<Dropout>("drop", 0.5f, 3), 1, Phase::test);
  Tensor x = random_tensor({1, 4, 5, 5}, 1);
  net->forward({x});
  expect_close(net->output(), x, 0, "test-phase dropout");
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

TEST(Dropout, GradientsMatchFiniteDifferences) {
  auto layer = std::make_unique<Dropout>("drop", 0.4f, 5);
  Dropout* d = layer.get();
  auto net = one_layer(std::move(layer), 1, Phase::train);
  testing::GradCheck opt;
  opt.before_forward = [d] { d->rng().reseed(5); };  // one mask for every evaluation
  check_gradients(*net, {random_tensor({1, 3, 4, 4}, 13)}, opt);
}

TEST(Concat, StacksChannelsAndSplitsGradients) {
  auto net = one_layer(std::make_unique<Concat>("cat"), 3, Phase::train);
  Tensor a = random_tensor({2, 3, 4, 5}, 1), b = random_tensor({2, 16, 4, 5}, 2), c = random_tensor({2, 5, 4, 5}, 3);
  net->forward({a, b, c});
  Tensor y = net->output();
  ASSERT_EQ(y.shape(), (Shape{2, 24, 4, 5}));
  EXPECT_EQ(y.at(1, 2, 3, 4), a.at(1, 2, 3, 4));
  EXPECT_EQ(y.at(1, 3 + 15, 0, 1), b.at(1, 15, 0, 1));
  EXPECT_EQ(y.at(0, 19 + 4, 2, 2), c.at(0, 4, 2, 2));
  check_gradients(*net, {a, b, c});
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
