// Segmentation and evaluation: float16 storage, the stride-8 upsampling, labels from stored
// probabilities, the predictions file, and the VOC scores against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/half.h"
#include "eval/confusion.h"
#include "segment/predict.h"
#include "segment/predictions_file.h"
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

TEST_F(SegmentFileTest, PredictionsRoundTripAndPiecesCopyExactly) {
  segment::PredictionsInfo info;
  info.num_classes = 3;
  info.class_names = {"background", "a", "b"};
  info.crf = true;
  info.crf_params.bi_w = 5;
  info.probs = true;
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
