// Caffe interop: the wire format, caffemodels written in both layouts and read back, import by
// name with shape checks, the VGG-16 subsampling rule, clear errors, and OpenCV's own Caffe
// reader running an exported LargeFOV: an independent implementation of the same network.
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <fstream>
#include <opencv2/dnn.hpp>

#include "caffe/caffemodel.h"
#include "caffe/convert.h"
#include "caffe/protobuf.h"
#include "gradcheck.h"
#include "models/model_file.h"
#include "test_support.h"

namespace deeplab::caffe {
namespace {

namespace fs = std::filesystem;
using deeplab::testing::expect_error;
using CaffeTest = deeplab::testing::ScratchDirTest;

bool same_params(Model& a, Model& b) {
  for (size_t i = 0; i < a.params().size(); ++i) {
    if (!deeplab::testing::same_bits(a.params()[i]->value, b.params()[i]->value)) return false;
  }
  return true;
}

TEST(Protobuf, FieldsRoundTripAndMalformedInputIsAnError) {
  MessageWriter w;
  w.varint_field(1, 300);
  w.bytes_field(2, "conv1_1");
  const float f[3] = {1.5f, -2.0f, 3.25f};
  w.packed_floats(5, f, 3);
  w.packed_ints(7, {4096, 25088, 1});
  MessageReader r(w.bytes(), "test");
  Field field;
  ASSERT_TRUE(r.next(field));
  EXPECT_EQ(field.varint, 300u);
  ASSERT_TRUE(r.next(field));
  EXPECT_EQ(field.bytes, "conv1_1");
  ASSERT_TRUE(r.next(field));
  std::vector<float> floats;
  append_floats(field, floats, "test");
  EXPECT_EQ(floats, std::vector<float>(f, f + 3));
  ASSERT_TRUE(r.next(field));
  std::vector<int64_t> ints;
  append_ints(field, ints, "test");
  EXPECT_EQ(ints, (std::vector<int64_t>{4096, 25088, 1}));
  EXPECT_FALSE(r.next(field));
  const std::string cut = w.bytes().substr(0, w.bytes().size() - 5);
  MessageReader truncated(cut, "cut.caffemodel");
  expect_error([&] { while (truncated.next(field)) {} }, {"cut.caffemodel", "truncated"});
}

TEST_F(CaffeTest, BothLayoutsWrittenAndImportedGiveTheSameParameters) {
  Model original(ModelSpec{ModelKind::largefov, 5, 0.125}, nn::Phase::test, 11);
  CaffeNet net = export_weights(original);
  // As a release names it, fc8 carries a data set suffix; fc7 stored as an inner product (O x I).
  for (CaffeLayer& l : net.layers) {
    if (l.name == "fc8") l.name = "fc8_voc12";
    if (l.name == "fc7") l.type = "InnerProduct", l.blobs[0].shape = {l.blobs[0].shape[0], l.blobs[0].shape[1]};
  }
  for (CaffeLayout layout : {CaffeLayout::v1_layers, CaffeLayout::v2_layer}) {
    const std::string path = this->path(layout == CaffeLayout::v1_layers ? "v1.caffemodel" : "v2.caffemodel");
    write_caffemodel(path, net, layout);
    const CaffeNet back = read_caffemodel(path);
    ASSERT_EQ(back.layers.size(), net.layers.size());
    EXPECT_EQ(back.layers[0].type, "Convolution");
    if (layout == CaffeLayout::v1_layers) {
      EXPECT_EQ(back.layers[0].blobs[1].shape, (Shape{1, 1, 1, 8}));  // num/channels/height/width
    }
    Model imported(ModelSpec{ModelKind::largefov, 5, 0.125}, nn::Phase::test, 99);
    const ImportReport report = import_weights(back, imported, {}, path);
    EXPECT_EQ(report.loaded.size(), 16u);
    EXPECT_TRUE(report.unused.empty());
    EXPECT_TRUE(same_params(original, imported)) << path;
  }
}

TEST_F(CaffeTest, TheLayerLayoutCarriesFc6sDilation) {
  // A model of fc6 dilation 4 (the demo's) exported and imported without saying the dilation:
  // the `layer` layout records it, so the import builds the same network; asking for another
  // is an error naming the file; the `layers` layout records nothing (the spec's stands).
  ModelSpec spec{ModelKind::largefov, 5, 0.125};
  spec.fc6_dilation = 4;
  Model original(spec, nn::Phase::test, 11);
  const CaffeNet net = export_weights(original);
  const std::string v2 = path("d4.caffemodel"), v1 = path("d4-v1.caffemodel");
  write_caffemodel(v2, net, CaffeLayout::v2_layer);
  write_caffemodel(v1, net, CaffeLayout::v1_layers);
  const CaffeNet back = read_caffemodel(v2);
  const ModelSpec open{ModelKind::largefov, 5, 0.125};  // fc6_dilation 0: not said
  const ModelSpec taken = with_recorded_fc6_dilation(back, open, v2);
  EXPECT_EQ(taken.fc6_dilation, 4);
  Model imported(taken, nn::Phase::test, 99);
  import_weights(back, imported, {}, v2);
  const Tensor x = testing::random_tensor({1, 3, 65, 65}, 3, -50, 50);
  EXPECT_TRUE(testing::same_bits(original.forward(x), imported.forward(x)));
  ModelSpec paper = open;
  paper.fc6_dilation = 12;
  expect_error([&] { with_recorded_fc6_dilation(back, paper, v2); }, {"d4.caffemodel", "dilation 4", "asks for 12"});
  EXPECT_EQ(with_recorded_fc6_dilation(read_caffemodel(v1), open, v1).fc6_dilation, 0);
  for (const CaffeLayer& l : back.layers)  // only the dilated layers say so: conv5_x (2) and fc6
    EXPECT_EQ(l.dilation, l.name == "fc6" ? 4 : l.name.rfind("conv5_", 0) == 0 ? 2 : 0) << l.name;
}

TEST_F(CaffeTest, MissingExtraAndMisshapedLayersAreNamed) {
  Model m(ModelSpec{ModelKind::largefov, 5, 0.125}, nn::Phase::test, 1);
  CaffeNet net = export_weights(m);
  const std::string path = this->path("m.caffemodel");
  {  // a layer missing
    CaffeNet cut = net;
    cut.layers.erase(cut.layers.begin() + 3);
    expect_error([&] { import_weights(cut, m, {}, path); }, {"m.caffemodel", "layer 'conv2_2' is missing"});
  }
  {  // a blob of the wrong shape
    CaffeNet bad = net;
    bad.layers[5].blobs[0].shape[1] += 1;
    bad.layers[5].blobs[0].data.resize(size_t(shape_numel(bad.layers[5].blobs[0].shape)));
    expect_error([&] { import_weights(bad, m, {}, path); }, {"layer 'conv3_2'", "weights are"});
  }
  {  // another class count: fc8 misshaped, allowed to stay fresh; an extra layer is reported, or refused
    Model other(ModelSpec{ModelKind::largefov, 7, 0.125}, nn::Phase::test, 1);
    CaffeNet extra = net;
    extra.layers.push_back({"fc9", "Convolution", {net.layers.back().blobs}});
    expect_error([&] { import_weights(extra, other, {}, path); }, {"layer 'fc8'", "weights are"});
    ImportOptions o;
    o.allow_missing = {"fc8"};
    const ImportReport r = import_weights(extra, other, o, path);
    EXPECT_EQ(r.kept.size(), 1u);
    EXPECT_EQ(r.unused, std::vector<std::string>{"fc9"});
    o.strict = true;
    expect_error([&] { import_weights(extra, other, o, path); }, {"fc9", "no place"});
  }
  {  // not a caffemodel, truncated
    std::ofstream(path) << "this is a text file, not a model\n";
    expect_error([&] { read_caffemodel(path); }, {"m.caffemodel"});
    write_caffemodel(path, net);
    fs::resize_file(path, fs::file_size(path) / 2);
    expect_error([&] { read_caffemodel(path); }, {"m.caffemodel", "truncated"});
    expect_error([&] { read_caffemodel(this->path("none.caffemodel")); }, {"none.caffemodel", "no such file"});
  }
  {  // a NaN weight, a layer named twice
    CaffeNet nan = net;
    nan.layers[2].blobs[0].data[5] = std::nanf("");
    write_caffemodel(path, nan);
    expect_error([&] { read_caffemodel(path); }, {"m.caffemodel", "layer 'conv2_1' blob 0", "value 5 is not finite"});
    CaffeNet twice = net;
    twice.layers.push_back(net.layers[0]);
    write_caffemodel(path, twice);
    expect_error([&] { read_caffemodel(path); }, {"m.caffemodel", "two layers with weights are named 'conv1_1'"});
  }
}

TEST(Vgg16, Fc6AndFc7AreSubsampledAsThePaperSays) {
  // A VGG-16 at width 1/16: conv layers as the model's, fc6 (4 x 64) x (32 x 7 x 7) and fc7
  // (4 x 64) x (4 x 64) inner products, fc8 a 1000-class classifier.
  ModelSpec spec{ModelKind::largefov, 3, 1.0 / 16};
  Model model(spec, nn::Phase::test, 2);
  CaffeNet vgg = export_weights(model);
  vgg.layers.resize(13);  // conv1_1 ... conv5_3
  Rng rng(4);
  auto blob = [&](Shape s) {
    CaffeBlob b{s, std::vector<float>(size_t(shape_numel(s)))};
    for (float& v : b.data) v = rng.uniform(-1, 1);
    return b;
  };
  vgg.layers.push_back({"fc6", "InnerProduct", {blob({256, 32 * 49}), blob({256})}});
  vgg.layers.push_back({"fc7", "InnerProduct", {blob({256, 256}), blob({256})}});
  vgg.layers.push_back({"fc8", "InnerProduct", {blob({1000, 256}), blob({1000})}});
  Model fresh(spec, nn::Phase::test, 2);
  const Tensor fc8_before = fresh.net().find_param("fc8/weight")->value.clone();
  import_vgg16(vgg, fresh, "vgg.caffemodel");
  const Tensor& fc6 = fresh.net().find_param("fc6/weight")->value;  // 64 x 32 x 3 x 3
  ASSERT_EQ(fc6.shape(), (Shape{64, 32, 3, 3}));
  const std::vector<float>& w6 = vgg.layers[13].blobs[0].data;
  for (int o : {0, 5, 63})
    for (int c : {0, 31})
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x)
          EXPECT_EQ(fc6.data()[((o * 32 + c) * 3 + y) * 3 + x], w6[size_t(((4 * o * 32 + c) * 7 + 3 * y) * 7 + 3 * x)]);
  EXPECT_EQ(fresh.net().find_param("fc6/bias")->value.data()[7], vgg.layers[13].blobs[1].data[28]);
  const Tensor& fc7 = fresh.net().find_param("fc7/weight")->value;  // 64 x 64
  EXPECT_EQ(fc7.data()[3 * 64 + 5], vgg.layers[14].blobs[0].data[size_t(12 * 256 + 20)]);
  EXPECT_TRUE(testing::same_bits(fc8_before, fresh.net().find_param("fc8/weight")->value));  // fc8 stays fresh
  vgg.layers.erase(vgg.layers.begin() + 13);
  expect_error([&] { import_vgg16(vgg, fresh, "vgg.caffemodel"); }, {"vgg.caffemodel", "'fc6' is missing"});
}

TEST(Vgg16, APretrainedClassifierConvertsByTheSameRuleEitherWay) {
  // A vgg16 classifier at 96 pixels (pool5 3 x 3, so fc6 is 256 x 32 x 3 x 3 at width 1/16):
  // converted from the model itself (train --init) and from its Caffe export (import
  // --from-vgg16), the LargeFOV is the same to the bit.
  Model vgg(ModelSpec{ModelKind::vgg16, 10, 1.0 / 16, 0.5f, ConvPolicy::direct, 96}, nn::Phase::test, 8);
  Rng rng(2);
  for (nn::Param* p : vgg.params())  // biases too, so a bias mix-up would show
    for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data()[i] = rng.uniform(-1, 1);
  const ModelSpec spec{ModelKind::largefov, 11, 1.0 / 16};
  Model direct(spec, nn::Phase::test, 5), via_caffe(spec, nn::Phase::test, 5), fresh(spec, nn::Phase::test, 5);
  const WeightsReport r = init_from_vgg16(vgg_layers(vgg), direct, "vgg.h5");
  import_vgg16(export_weights(vgg), via_caffe, "vgg.caffemodel");
  EXPECT_TRUE(same_params(direct, via_caffe));
  ASSERT_EQ(r.loaded.size(), 15u);  // 13 convolutions, fc6, fc7
  EXPECT_EQ(r.loaded[13], "fc6 (every 4th filter, taps of 3x3 subsampled to 3x3)");
  EXPECT_EQ(r.unused, std::vector<std::string>{"fc8"});
  // The 3 x 3 taps were 32 pixels apart in the classifier; LargeFOV's 12 puts them 96 apart.
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("model.fc6_dilation = 4"), std::string::npos) << r.warnings[0];
  ModelSpec same_geometry = spec;
  same_geometry.fc6_dilation = 4;
  Model kept(same_geometry, nn::Phase::test, 5);
  EXPECT_TRUE(init_from_vgg16(vgg_layers(vgg), kept, "vgg.h5").warnings.empty());
  EXPECT_EQ(kept.net().find_param("fc6/weight")->value.shape(), (Shape{64, 32, 3, 3}));
  // By hand: fc6 keeps every 4th of the 256 filters and all 3 x 3 taps; fc7 every 4th output
  // and input; the trunk is copied; fc8 stays as initialised.
  const Tensor& v6 = vgg.net().find_param("fc6/weight")->value;  // 256 x 32 x 3 x 3
  const Tensor& d6 = direct.net().find_param("fc6/weight")->value;  // 64 x 32 x 3 x 3
  ASSERT_EQ(d6.shape(), (Shape{64, 32, 3, 3}));
  for (int o : {0, 9, 63})
    for (int c : {0, 17, 31})
      for (int k = 0; k < 9; ++k) EXPECT_EQ(d6.data()[(o * 32 + c) * 9 + k], v6.data()[(4 * o * 32 + c) * 9 + k]);
  EXPECT_EQ(direct.net().find_param("fc6/bias")->value.data()[9], vgg.net().find_param("fc6/bias")->value.data()[36]);
  const Tensor& v7 = vgg.net().find_param("fc7/weight")->value;  // 256 x 256
  EXPECT_EQ(direct.net().find_param("fc7/weight")->value.data()[5 * 64 + 7], v7.data()[20 * 256 + 28]);
  const Tensor& c33 = vgg.net().find_param("conv3_3/weight")->value;
  EXPECT_TRUE(testing::same_bits(c33, direct.net().find_param("conv3_3/weight")->value));
  const Tensor& f8 = fresh.net().find_param("fc8/weight")->value;
  EXPECT_TRUE(testing::same_bits(f8, direct.net().find_param("fc8/weight")->value));
  // Another width's trunk does not fit, and a classifier is not a conversion target.
  Model wide(ModelSpec{ModelKind::largefov, 11, 1.0 / 8}, nn::Phase::test, 5);
  expect_error([&] { init_from_vgg16(vgg_layers(vgg), wide, "vgg.h5"); }, {"vgg.h5", "conv1_1", "width"});
  Model other_vgg(ModelSpec{ModelKind::vgg16, 10, 1.0 / 16, 0.5f, ConvPolicy::direct, 96}, nn::Phase::test, 1);
  expect_error([&] { init_from_vgg16(vgg_layers(vgg), other_vgg, "vgg.h5"); }, {"vgg.h5", "classifier"});
}

TEST_F(CaffeTest, OpenCvRunsTheExportedLargeFovAsWeDo) {
  Model model(ModelSpec{ModelKind::largefov, 21, 1.0}, nn::Phase::test, 5);
  const int64_t h = 65, w = 81;
  write_caffemodel(path("m.caffemodel"), export_weights(model));
  std::ofstream(path("deploy.prototxt")) << deploy_prototxt(model, h, w);
  cv::dnn::Net cv_net = cv::dnn::readNetFromCaffe(path("deploy.prototxt"), path("m.caffemodel"));
  const Tensor x = deeplab::testing::random_tensor({1, 3, h, w}, 3, -120, 130);
  const int dims[4] = {1, 3, int(h), int(w)};
  cv::Mat blob(4, dims, CV_32F, const_cast<float*>(x.data()));
  cv_net.setInput(blob);
  cv::Mat theirs = cv_net.forward();
  const Tensor ours = model.forward(x);
  ASSERT_EQ(theirs.total(), size_t(ours.numel())) << shape_str(ours.shape());
  const float* t = theirs.ptr<float>();
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < ours.numel(); ++i) {
    scale = std::max(scale, double(std::fabs(ours.data()[i])));
    diff = std::max(diff, double(std::fabs(ours.data()[i] - t[i])));
  }
  EXPECT_LE(diff / scale, 1e-4) << "max |difference| " << diff << " against max |score| " << scale;
  const int64_t classes = ours.dim(1), plane = ours.dim(2) * ours.dim(3);
  for (int64_t p = 0; p < plane; ++p) {
    int64_t a = 0, b = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (ours.data()[c * plane + p] > ours.data()[a * plane + p]) a = c;
      if (t[c * plane + p] > t[b * plane + p]) b = c;
    }
    ASSERT_EQ(a, b) << "argmax differs at score pixel " << p;
  }
  std::printf("OpenCV %s vs deeplab, LargeFOV %lldx%lld: max relative difference %.2g\n", CV_VERSION, (long long)h,
              (long long)w, diff / scale);
}

}  // namespace
}  // namespace deeplab::caffe
