// The model file: bit-identical round trip, atomic writes, and clear errors for files that are
// truncated, foreign, or missing or misshaping a parameter.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "gradcheck.h"
#include "models/model_file.h"
#include "test_support.h"

namespace deeplab {
namespace {

namespace fs = std::filesystem;
using testing::random_tensor;

using ModelFileTest = testing::ScratchDirTest;
using testing::expect_error;

TEST_F(ModelFileTest, SavedAndLoadedGivesBitIdenticalOutputs) {
  ModelSpec spec{ModelKind::msc_largefov, 7, 0.125};
  Model a(spec, nn::Phase::test, 31);
  save_model(path("m.h5"), a);
  auto b = load_model(path("m.h5"), nn::Phase::test);
  EXPECT_EQ(b->spec().kind, spec.kind);
  EXPECT_EQ(b->spec().num_classes, 7);
  EXPECT_EQ(b->spec().width, 0.125);
  Tensor x = random_tensor({1, 3, 33, 33}, 2, -100, 100);
  Tensor ya = a.forward(x), yb = b->forward(x);
  ASSERT_EQ(ya.shape(), yb.shape());
  EXPECT_TRUE(testing::same_bits(ya, yb));
  EXPECT_EQ(regular_files(), 1);  // no temporary left behind
}

TEST_F(ModelFileTest, AClassifierKeepsItsInputSize) {
  Model a({ModelKind::vgg16, 10, 0.0625, 0.5f, ConvPolicy::automatic, 64}, nn::Phase::test, 3);
  save_model(path("vgg.h5"), a);
  auto b = load_model(path("vgg.h5"), nn::Phase::test);
  EXPECT_EQ(b->spec().kind, ModelKind::vgg16);
  EXPECT_EQ(b->spec().input_size, 64);
  Tensor x = random_tensor({1, 3, 64, 64}, 2, -100, 100);
  Tensor ya = a.forward(x), yb = b->forward(x);
  EXPECT_TRUE(testing::same_bits(ya, yb));
  {
    h5::File f = h5::File::open_read(path("vgg.h5"));
    ModelSpec other = b->spec();
    other.input_size = 96;
    expect_error([&] { require_same_network(f, other); }, {"vgg.h5", "vgg16"});
  }
}

TEST_F(ModelFileTest, Fc6DilationIsPartOfTheNetwork) {
  ModelSpec spec{ModelKind::largefov, 3, 0.0625};
  spec.fc6_dilation = 4;
  Model a(spec, nn::Phase::test, 3);
  save_model(path("d4.h5"), a);
  auto b = load_model(path("d4.h5"), nn::Phase::test);
  EXPECT_EQ(fc6_dilation(b->spec()), 4);
  Tensor x = random_tensor({1, 3, 65, 65}, 2, -100, 100);
  Tensor ya = a.forward(x), yb = b->forward(x);
  EXPECT_TRUE(testing::same_bits(ya, yb));
  // The dilation changes what the network computes, so it is checked like the width.
  Model paper({ModelKind::largefov, 3, 0.0625}, nn::Phase::test, 3);
  paper.copy_params_from(a);
  Tensor yp = paper.forward(x);
  EXPECT_FALSE(testing::same_bits(ya, yp));
  h5::File f = h5::File::open_read(path("d4.h5"));
  expect_error([&] { require_same_network(f, paper.spec()); }, {"d4.h5", "dilation 4", "asks for 12"});
  // A file from before the attribute holds the paper's network.
  {
    h5::NewFile file(path("old.h5"), kModelFormat, kModelFormatVersion);
    write_model(file.file(), paper);
    H5Adelete(file.file().id(), "fc6_dilation");
    file.commit();
  }
  EXPECT_EQ(fc6_dilation(load_model(path("old.h5"), nn::Phase::test)->spec()), 12);
}

TEST_F(ModelFileTest, UnfinishedFilesLeaveNothingAndFormatsAreChecked) {
  { h5::NewFile unfinished(path("gone.h5"), "deeplab-test", 1); }
  EXPECT_EQ(regular_files(), 0);
  {
    h5::NewFile file(path("v3.h5"), "deeplab-test", 3);
    file.commit();
  }
  h5::File f = h5::File::open_read(path("v3.h5"));
  EXPECT_EQ(h5::check_format(f, "deeplab-test", "test file", 3), 3);
  expect_error([&] { h5::check_format(f, "deeplab-test", "test file", 2); },
               {"v3.h5", "test file format version 3 is not supported", "1 to 2"});
  expect_error([&] { h5::check_format(f, "deeplab-other", "other file", 3); },
               {"v3.h5", "not a deeplab other file", "'deeplab-test'"});
}

TEST_F(ModelFileTest, TruncatedFileIsAClearError) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  save_model(path("m.h5"), a);
  fs::resize_file(path("m.h5"), fs::file_size(path("m.h5")) / 2);
  expect_error([&] { load_model(path("m.h5"), nn::Phase::test); }, {path("m.h5")});
}

TEST_F(ModelFileTest, NotHdf5AtAllIsAClearError) {
  std::ofstream(path("junk.h5")) << "this is not HDF5";
  expect_error([&] { load_model(path("junk.h5"), nn::Phase::test); }, {path("junk.h5"), "not an HDF5 file"});
  expect_error([&] { load_model(path("absent.h5"), nn::Phase::test); }, {"absent.h5", "no such file"});
}

TEST_F(ModelFileTest, ForeignHdf5IsAClearError) {
  {
    h5::File f = h5::File::create(path("foreign.h5"));
    f.write_tensor("images/x", Tensor({2, 2}));
  }
  expect_error([&] { load_model(path("foreign.h5"), nn::Phase::test); }, {path("foreign.h5"), "not a deeplab model"});
}

TEST_F(ModelFileTest, MissingOrMisshapenParameterIsNamed) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  {
    h5::NewFile file(path("missing.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    H5Ldelete(f.id(), "/fc7/weight", H5P_DEFAULT);
    file.commit();
  }
  expect_error([&] { load_model(path("missing.h5"), nn::Phase::test); }, {"missing.h5", "fc7/weight", "missing"});
  {
    h5::NewFile file(path("shape.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    H5Ldelete(f.id(), "/fc8/bias", H5P_DEFAULT);
    f.write_tensor("fc8/bias", Tensor({4}));
    file.commit();
  }
  expect_error([&] { load_model(path("shape.h5"), nn::Phase::test); }, {"shape.h5", "fc8/bias", "shape 4", "expected 3"});
}

TEST_F(ModelFileTest, UnknownKindOrNewerVersionIsNamed) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  {
    h5::NewFile file(path("kind.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    f.set_attr("/", "kind", std::string("resnet"));
    file.commit();
  }
  expect_error([&] { load_model(path("kind.h5"), nn::Phase::test); }, {"kind.h5", "resnet"});
  {
    h5::NewFile file(path("version.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    f.set_attr("/", "version", int64_t(99));
    file.commit();
  }
  expect_error([&] { load_model(path("version.h5"), nn::Phase::test); }, {"version.h5", "99"});
}

TEST_F(ModelFileTest, AnAttributeThatIsAnArrayIsAClearError) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  {
    h5::NewFile file(path("array.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    H5Adelete(f.id(), "version");
    hsize_t three = 3;
    h5::Handle space(H5Screate_simple(1, &three, nullptr), H5Sclose);
    h5::Handle attr(H5Acreate2(f.id(), "version", H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const int64_t values[3] = {1, 2, 3};
    H5Awrite(attr.get(), H5T_NATIVE_INT64, values);
    file.commit();
  }
  expect_error([&] { load_model(path("array.h5"), nn::Phase::test); }, {"array.h5", "'version'", "single value"});
}

TEST_F(ModelFileTest, ChangedWeightsFailTheirChecksum) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  {
    h5::NewFile file(path("tampered.h5"), kModelFormat, kModelFormatVersion);
    h5::File& f = file.file();
    write_model(f, a);
    Tensor w = f.read_tensor("fc7/weight");
    w.data()[3] += 1.0f;  // a changed value under the old checksum
    H5Ldelete(f.id(), "/fc7/weight", H5P_DEFAULT);
    f.write_tensor("fc7/weight", w);
    f.set_attr("fc7/weight", "crc32", int64_t(12345));
    file.commit();
  }
  expect_error([&] { load_model(path("tampered.h5"), nn::Phase::test); }, {"tampered.h5", "fc7/weight", "checksum"});
}

TEST_F(ModelFileTest, FailedSaveLeavesNothing) {
  Model a({ModelKind::largefov, 3, 0.0625}, nn::Phase::test);
  std::ofstream(path("a-file")) << "not a folder";  // a missing folder would be made; this cannot be
  EXPECT_THROW(save_model(path("a-file/m.h5"), a), Error);
  EXPECT_EQ(regular_files(), 1);  // the file in the way, and nothing of the model
  save_model(path("new/folder/m.h5"), a);  // missing folders are made
  EXPECT_TRUE(fs::exists(path("new/folder/m.h5")));
}

}  // namespace
}  // namespace deeplab
