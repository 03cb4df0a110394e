// Segmentation and evaluation: float16 storage, the stride-8 upsampling, labels from stored
// probabilities, the predictions file, and the VOC scores against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <fstream>

#include "core/half.h"
#include "eval/confusion.h"
#include "gradcheck.h"
#include "models/deeplab.h"
#include "models/scorer.h"
#include "segment/predict.h"
#include "segment/predictions_file.h"
#include "segment/segment_dataset.h"
#include "test_support.h"

namespace deeplab {
namespace {

using deeplab::testing::expect_error;
using SegmentFileTest = deeplab::testing::ScratchDirTest;

TEST(Half, EveryHalfSurvivesTheRoundTripAndFloatsRoundToNearestEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h) << h;
  }
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), float_to_half(1.0f));      // halfway: to even (1.0)
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), float_to_half(1.0f + 1.0f / 512));  // halfway: to even
  EXPECT_EQ(half_to_float(float_to_half(1e-8f)), 0.0f);                   // below half the smallest subnormal
  EXPECT_EQ(half_to_float(float_to_half(7e-8f)), std::ldexp(1.0f, -24));  // the smallest subnormal
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.0f))));
  EXPECT_EQ(half_to_float(float_to_half(0.333333f)), 0.333251953125f);
}

TEST(Upsample, ScorePixelISitsOnImagePixel8IAndRampsStayLinear) {
  Tensor map({1, 3, 4});  // a ramp 10 * y + x on the stride-8 grid
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) map.data()[y * 4 + x] = float(10 * y + x);
  const Tensor up = segment::upsample(map, 21, 27);
  for (int y = 0; y < 21; ++y)
    for (int x = 0; x < 27; ++x) {
      const float sy = std::min(y / 8.0f, 2.0f), sx = std::min(x / 8.0f, 3.0f);  // clamped at the last score
      EXPECT_NEAR(up.data()[y * 27 + x], 10 * sy + sx, 1e-5) << y << "," << x;
    }
}

TEST(Labels, ArgmaxOfStoredProbabilitiesAndTheCrfPath) {
  // Two classes on a 3 x 3 grid for a 17 x 17 image: class 1 on the right column only.
  segment::Stride8Probabilities p{2, 3, 3, std::vector<uint16_t>(18)};
  for (int i = 0; i < 9; ++i) {
    const float one = (i % 3 == 2) ? 0.9f : 0.2f;
    p.bits[size_t(i)] = float_to_half(1 - one);
    p.bits[size_t(9 + i)] = float_to_half(one);
  }
  std::vector<uint8_t> rgb(17 * 17 * 3, 100);
  const LabelMap a = segment::labels_from_probabilities(p, rgb.data(), 17, 17, nullptr);
  EXPECT_EQ(a.data[0], 0);
  EXPECT_EQ(a.data[16], 1);  // x = 16 is score column 2
  EXPECT_EQ(a.data[8], 0);   // x = 8 is column 1 (0.2 for class 1)
  crf::CrfParams params;
  params.bi_w = params.pos_w = 0;  // no pairwise terms: the CRF gives the unary's argmax back
  const LabelMap b = segment::labels_from_probabilities(p, rgb.data(), 17, 17, &params);
  EXPECT_EQ(a.data, b.data);
  expect_error([&] { segment::labels_from_probabilities(p, rgb.data(), 40, 17, nullptr); }, {"do not fit"});
}

TEST(Resolution, WorkingSizeKeepsTheAspectAndAtLeastAPixel) {
  using segment::Size2D;
  EXPECT_EQ(segment::working_size(3024, 4032, 500), (Size2D{375, 500}));
  EXPECT_EQ(segment::working_size(4032, 3024, 500), (Size2D{500, 375}));
  EXPECT_EQ(segment::working_size(300, 400, 500), (Size2D{300, 400}));  // small enough already
  EXPECT_EQ(segment::working_size(300, 400, 0), (Size2D{300, 400}));    // no limit
  EXPECT_EQ(segment::working_size(1, 1, 500), (Size2D{1, 1}));
  EXPECT_EQ(segment::working_size(3, 4000, 100), (Size2D{1, 100}));    // never 0 rows
}

TEST(Resolution, NearestResizeOfLabelsKeepsBlocksAligned) {
  LabelMap small(1, 2, 3);
  for (int i = 0; i < 6; ++i) small.data[size_t(i)] = uint8_t(i);
  const LabelMap big = segment::resize_labels(small, {4, 6});
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_EQ(big.at(0, y, x), (y / 2) * 3 + x / 2) << y << "," << x;
  const LabelMap odd = segment::resize_labels(small, {3, 7});  // the corners map to the corners
  EXPECT_EQ(odd.at(0, 0, 0), 0);
  EXPECT_EQ(odd.at(0, 2, 6), 5);
}

// Probabilities of a big image at --max-side: the labels are those of the scaled image, scaled
// back; with the CRF the scaled image (pixels resized) is what the CRF sees, or, with
// crf_full_res, the whole image.
TEST(Resolution, LabelsAtMaxSideAreTheScaledImagesLabelsScaledBack) {
  const int64_t H = 90, W = 120;
  const segment::Resolution res{40, false};
  const segment::Size2D size = segment::working_size(H, W, res.max_side);
  ASSERT_EQ(size, (segment::Size2D{30, 40}));
  segment::Stride8Probabilities p{3, 4, 5, {}};  // ceil(30/8) x ceil(40/8)
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 20; ++i) p.bits.push_back(float_to_half(float((i * (k + 2)) % 7 + 1) / 8));
  std::vector<uint8_t> rgb(size_t(H * W * 3));
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t((i / 3) % W < size_t(W / 2) ? 20 : 230);
  const LabelMap scaled = segment::labels_from_probabilities(p, rgb.data(), H, W, nullptr, nullptr, res);
  ASSERT_EQ(scaled.h, H);
  ASSERT_EQ(scaled.w, W);
  const std::vector<uint8_t> small_rgb = segment::resize_rgb(rgb.data(), H, W, size);
  const LabelMap small = segment::labels_from_probabilities(p, small_rgb.data(), size.height, size.width, nullptr);
  EXPECT_EQ(scaled.data, segment::resize_labels(small, {H, W}).data);
  crf::CrfParams params;
  const LabelMap crf_scaled = segment::labels_from_probabilities(p, rgb.data(), H, W, &params, nullptr, res);
  const LabelMap crf_small = segment::labels_from_probabilities(p, small_rgb.data(), size.height, size.width, &params);
  EXPECT_EQ(crf_scaled.data, segment::resize_labels(crf_small, {H, W}).data);
  // Full resolution: without pairwise terms the CRF is the argmax of the scores stretched to the
  // whole image, score i sitting on pixel 8i * H / h.
  params.bi_w = params.pos_w = 0;
  const LabelMap full = segment::labels_from_probabilities(p, rgb.data(), H, W, &params, nullptr, {40, true});
  Tensor logp({3, 4, 5});
  for (size_t i = 0; i < p.bits.size(); ++i) logp.data()[i] = std::log(half_to_float(p.bits[i]));
  const Tensor up = segment::upsample(logp, H, W, 8.0 * H / 30, 8.0 * W / 40);
  for (int64_t i = 0; i < H * W; i += 37) {
    int best = 0;
    for (int k = 1; k < 3; ++k)
      if (up.data()[k * H * W + i] > up.data()[best * H * W + i]) best = k;
    EXPECT_EQ(full.data[size_t(i)], best) << i;
  }
  expect_error([&] { segment::labels_from_probabilities(p, rgb.data(), H, W, nullptr, nullptr, {80, false}); },
               {"do not fit a 80x60 image"});
}

// A multi-scale model's branches meet only for 8k + 1 pixels a side; the scorer pads any other
// size with the mean colour, at the bottom and right, so that its scores have the shape
// LargeFOV's have at that size (a 160-pixel scene, a 500 x 375 photograph).
TEST(Scorer, MultiScaleModelsTakeAnyImageSize) {
  ModelSpec spec;
  spec.kind = ModelKind::msc_largefov;
  spec.num_classes = 3;
  spec.width = 0.125;
  Model model(spec, nn::Phase::test, 5);
  Scorer scorer(model, DeviceSelection{});
  const int64_t H = 38, W = 45;  // padded to 41 x 49
  const Tensor image = testing::random_tensor({2, 3, H, W}, 4, -50, 50);
  expect_error([&] { model.forward(image); }, {"8k+1"});
  const Tensor scores = scorer.scores(image);
  Tensor padded({2, 3, 41, 49});
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) padded.data()[(p * 41 + y) * 49 + x] = image.data()[(p * H + y) * W + x];
  const Tensor full = model.forward(padded);
  EXPECT_TRUE(testing::same_bits(scores, full));
  spec.kind = ModelKind::largefov;
  Model single(spec, nn::Phase::test, 5);
  Scorer single_scorer(single, DeviceSelection{});
  EXPECT_EQ(single_scorer.scores(image).shape(), scores.shape());
  // Sizes that fit pass through as they are.
  const Tensor fits = testing::random_tensor({1, 3, 41, 49}, 6, -50, 50);
  const Tensor direct = model.forward(fits);
  EXPECT_TRUE(testing::same_bits(scorer.scores(fits), direct));
}

TEST(PngLayout, PathsForEachLayoutAndNamesThatWouldLeaveTheFolder) {
  using segment::PngLayout;
  EXPECT_EQ(segment::png_path("out", PngLayout::flat, "2008/x"), "out/2008_x.png");
  EXPECT_EQ(segment::png_path("out", PngLayout::voc_server, "2008_000001"),
            "out/results/VOC2012/Segmentation/comp6_test_cls/2008_000001.png");
  EXPECT_EQ(segment::png_path("out", PngLayout::tree, "site4/day2/img_0012"), "out/site4/day2/img_0012.png");
  expect_error([&] { segment::png_path("out", PngLayout::tree, "../escape"); }, {"'../escape' would leave out"});
  expect_error([&] { segment::png_path("out", PngLayout::tree, "/etc/x"); }, {"would leave out"});
  EXPECT_EQ(segment::parse_png_layout("voc-server"), PngLayout::voc_server);
  expect_error([&] { segment::parse_png_layout("server"); }, {"flat, voc-server or tree"});
}

// The memory check plans the network for a size without allocating it: the plan is the one the
// forward then uses, and planning a 12-megapixel input does not take its gigabyte.
TEST(PlanBytes, ThePlanWithoutTheAllocation) {
  auto rss_mb = [] {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return double(resident) * double(sysconf(_SC_PAGE_SIZE)) / 1e6;
  };
  Model model(ModelSpec{ModelKind::largefov, 5, 0.125}, nn::Phase::test, 1);
  const size_t planned = model.net().plan_bytes({{1, 3, 57, 43}});
  model.forward(Tensor({1, 3, 57, 43}));
  EXPECT_EQ(planned, model.net().planned_bytes());
  EXPECT_EQ(model.net().plan_bytes({{1, 3, 57, 43}}), planned);  // the shape it holds
  const double before = rss_mb();
  const size_t big = model.net().plan_bytes({{1, 3, 3024, 4032}});
  EXPECT_GT(double(big) / 1e6, 300.0);
  EXPECT_LT(rss_mb() - before, 50.0) << "planning allocated what it planned";
  const Tensor again = model.forward(Tensor({1, 3, 57, 43}));  // re-planned for the small input
  EXPECT_EQ(model.net().planned_bytes(), planned);
  EXPECT_EQ(again.dim(2), 8);
  EXPECT_GT(segment::segment_memory_bytes(3024, 4032, 21, true, {}, int64_t(big)),
            segment::segment_memory_bytes(3024, 4032, 21, true, {500, false}, int64_t(planned)));
}

TEST_F(SegmentFileTest, PredictionsRoundTripAndPiecesCopyExactly) {
  segment::PredictionsInfo info;
  info.num_classes = 3;
  info.class_names = {"background", "a", "b"};
  info.crf = true;
  info.crf_params.bi_w = 5;
  info.probs = true;
  info.resolution = {500, true};
  info.count = 2;
  segment::Stride8Probabilities p{3, 2, 2, {}};
  for (int i = 0; i < 12; ++i) p.bits.push_back(float_to_half(float(i) / 12));
  LabelMap l(1, 9, 10);
  for (size_t i = 0; i < l.data.size(); ++i) l.data[i] = uint8_t(i % 3);
  {
    segment::PredictionsWriter w(path("piece.h5"), info);
    w.add(4, "four", l, &p);
    w.add(5, "five", l, &p);
    w.commit();
  }
  {
    segment::PredictionsWriter w(path("whole.h5"), info);
    w.copy_entries(path("piece.h5"), {4, 5});
    w.commit();
  }
  const segment::PredictionsReader r(path("whole.h5"));
  EXPECT_EQ(r.info().count, 2);
  EXPECT_TRUE(r.info().crf);
  EXPECT_EQ(r.info().crf_params.bi_w, 5.0f);
  EXPECT_EQ(r.info().class_names[2], "b");
  EXPECT_EQ(r.info().resolution.max_side, 500);
  EXPECT_TRUE(r.info().resolution.crf_full_res);
  EXPECT_TRUE(r.has(5));
  EXPECT_FALSE(r.has(0));
  EXPECT_EQ(r.name(5), "five");
  EXPECT_EQ(r.labels(4).data, l.data);
  EXPECT_EQ(r.probabilities(5).bits, p.bits);
  expect_error([&] { segment::PredictionsReader(path("missing.h5")); }, {"missing.h5"});
}

TEST(Confusion, ScoresMatchAHandComputedCase) {
  // Truth / prediction over 10 pixels, classes 0..2, one ignored pixel:
  //   truth 0 0 0 1 1 1 1 2 2 255
  //   pred  0 0 1 1 1 2 0 2 0 1
  const uint8_t truth[10] = {0, 0, 0, 1, 1, 1, 1, 2, 2, 255}, pred[10] = {0, 0, 1, 1, 1, 2, 0, 2, 0, 1};
  eval::ConfusionMatrix m(3);
  m.add(pred, truth, 10, "case");
  EXPECT_EQ(m.total(), 9);
  EXPECT_EQ(m.count(0, 0), 2);
  EXPECT_EQ(m.count(0, 1), 1);
  EXPECT_EQ(m.count(1, 0), 1);
  EXPECT_EQ(m.count(2, 0), 1);
  // class 0: TP 2, FN 1, FP 2 -> 2/5; class 1: TP 2, FN 2, FP 1 -> 2/5; class 2: TP 1, FN 1, FP 1 -> 1/3
  EXPECT_DOUBLE_EQ(*m.iou(0), 0.4);
  EXPECT_DOUBLE_EQ(*m.iou(1), 0.4);
  EXPECT_DOUBLE_EQ(*m.iou(2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.mean_iou(), (0.4 + 0.4 + 1.0 / 3) / 3);
  EXPECT_DOUBLE_EQ(m.pixel_accuracy(), 5.0 / 9);
  const uint8_t bad[1] = {3}, zero[1] = {0};
  expect_error([&] { m.add(bad, zero, 1, "img7"); }, {"img7", "prediction 3"});
}

TEST(Confusion, AClassAbsentFromTruthAndPredictionIsLeftOutOfTheMean) {
  const uint8_t truth[4] = {0, 0, 2, 2}, pred[4] = {0, 2, 2, 2};
  eval::Evaluation e;
  e.confusion = eval::ConfusionMatrix(3);
  e.confusion.add(pred, truth, 4, "case");
  e.class_names = {"bg", "never", "thing"};
  e.images = 1;
  EXPECT_FALSE(e.confusion.iou(1).has_value());
  EXPECT_DOUBLE_EQ(e.confusion.mean_iou(), (0.5 + 2.0 / 3) / 2);
  const std::string json = eval::to_json(e);
  EXPECT_NE(json.find("\"never\": null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"mean_iou\": 0.583333"), std::string::npos) << json;
  EXPECT_NE(json.find("\"pixel_accuracy\": 0.750000"), std::string::npos) << json;
  EXPECT_NE(json.find("\"images\": 1"), std::string::npos) << json;
  EXPECT_NE(eval::format_table(e).find("absent"), std::string::npos);
}

}  // namespace
}  // namespace deeplab
