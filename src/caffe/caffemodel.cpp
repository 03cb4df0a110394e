#include "caffe/caffemodel.h"

#include <cstring>
#include <map>
#include <set>

#include "caffe/protobuf.h"
#include "core/error.h"
#include "core/text_file.h"

namespace deeplab::caffe {

namespace {

// caffe.proto field numbers.
namespace net_field { constexpr uint32_t name = 1, layers_v1 = 2, layer = 100; }
namespace layer_field { constexpr uint32_t name = 1, type = 2, blobs = 7, convolution_param = 106; }
namespace convolution_field { constexpr uint32_t dilation = 18; }
namespace v1_field { constexpr uint32_t name = 4, type = 5, blobs = 6; }
namespace blob_field {
constexpr uint32_t num = 1, channels = 2, height = 3, width = 4, data = 5, shape = 7, double_data = 8;
}
constexpr uint32_t kShapeDim = 1;

// V1LayerParameter.LayerType values of the layers a DeepLab or VGG file holds, by V2 name.
const std::map<uint64_t, std::string>& v1_types() {
  static const std::map<uint64_t, std::string> types = {
      {1, "Accuracy"}, {3, "Concat"},  {4, "Convolution"}, {5, "Data"},          {6, "Dropout"},
      {12, "ImageData"}, {14, "InnerProduct"}, {15, "LRN"}, {17, "Pooling"}, {18, "ReLU"},
      {20, "Softmax"}, {21, "SoftmaxWithLoss"}, {22, "Split"}, {25, "Eltwise"}, {33, "Slice"}};
  return types;
}

uint64_t v1_type_of(const std::string& name) {
  for (const auto& [value, type] : v1_types())
    if (type == name) return value;
  return 0;  // NONE
}

CaffeBlob read_blob(std::string_view bytes, const std::string& what) {
  CaffeBlob blob;
  int64_t nchw[4] = {0, 0, 0, 0};
  bool legacy = false, has_shape = false;
  std::vector<double> doubles;
  MessageReader r(bytes, what);
  Field f;
  while (r.next(f)) {
    switch (f.number) {
      case blob_field::num: case blob_field::channels: case blob_field::height: case blob_field::width:
        if (f.type != WireType::varint) fail(what, ": blob dimension is not an integer");
        nchw[f.number - 1] = int64_t(f.varint);
        legacy = true;
        break;
      case blob_field::data: append_floats(f, blob.data, what); break;
      case blob_field::double_data: {
        if (f.type == WireType::bytes && f.bytes.size() % 8 == 0) {
          const size_t n = f.bytes.size() / 8;
          for (size_t i = 0; i < n; ++i) {
            double d;
            std::memcpy(&d, f.bytes.data() + 8 * i, 8);
            blob.data.push_back(float(d));
          }
        } else if (f.type == WireType::fixed64) {
          double d;
          std::memcpy(&d, &f.varint, 8);
          blob.data.push_back(float(d));
        } else {
          fail(what, ": malformed double_data");
        }
        break;
      }
      case blob_field::shape: {
        if (f.type != WireType::bytes) fail(what, ": malformed blob shape");
        MessageReader s(f.bytes, what);
        Field d;
        std::vector<int64_t> dims;
        while (s.next(d))
          if (d.number == kShapeDim) append_ints(d, dims, what);
        blob.shape.assign(dims.begin(), dims.end());
        has_shape = true;
        break;
      }
      default: break;  // diff and anything else: not needed
    }
  }
  if (!has_shape) {
    if (!legacy) fail(what, ": blob without a shape");
    blob.shape = {nchw[0], nchw[1], nchw[2], nchw[3]};
  }
  for (int64_t d : blob.shape)
    if (d < 0 || d > (int64_t(1) << 31)) fail(what, ": blob dimension ", d, " out of range");
  if (int64_t(blob.data.size()) != shape_numel(blob.shape))
    fail(what, ": blob of shape ", shape_str(blob.shape), " holds ", blob.data.size(), " values (truncated file?)");
  require_finite(blob.data.data(), int64_t(blob.data.size()), what);
  return blob;
}

CaffeLayer read_layer(std::string_view bytes, bool v1, const std::string& path, size_t index) {
  CaffeLayer layer;
  const std::string what = path + ": layer " + std::to_string(index);
  std::vector<std::string_view> blobs;
  MessageReader r(bytes, what);
  Field f;
  const uint32_t name_field = v1 ? v1_field::name : layer_field::name;
  const uint32_t type_field = v1 ? v1_field::type : layer_field::type;
  const uint32_t blobs_field = v1 ? v1_field::blobs : layer_field::blobs;
  while (r.next(f)) {
    if (f.number == name_field && f.type == WireType::bytes) layer.name = std::string(f.bytes);
    else if (f.number == type_field && v1 && f.type == WireType::varint)
      layer.type = v1_types().count(f.varint) ? v1_types().at(f.varint) : "V1 type " + std::to_string(f.varint);
    else if (f.number == type_field && !v1 && f.type == WireType::bytes) layer.type = std::string(f.bytes);
    else if (f.number == blobs_field && f.type == WireType::bytes) blobs.push_back(f.bytes);
    else if (!v1 && f.number == layer_field::convolution_param && f.type == WireType::bytes) {
      MessageReader c(f.bytes, what);
      Field d;
      std::vector<int64_t> dilation;
      while (c.next(d))
        if (d.number == convolution_field::dilation) append_ints(d, dilation, what);
      if (!dilation.empty()) {
        if (dilation[0] < 1 || dilation[0] > 1024) fail(what, ": convolution dilation ", dilation[0], " out of range");
        layer.dilation = int(dilation[0]);
      }
    }
  }
  const std::string named = path + ": layer '" + layer.name + "'";
  for (size_t b = 0; b < blobs.size(); ++b) layer.blobs.push_back(read_blob(blobs[b], named + " blob " + std::to_string(b)));
  return layer;
}

}  // namespace

CaffeNet read_caffemodel(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.empty()) fail(path, ": empty file, not a caffemodel");
  CaffeNet net;
  MessageReader r(bytes, path);
  Field f;
  size_t index = 0;
  bool any_layer = false;
  while (r.next(f)) {
    if (f.number == net_field::name && f.type == WireType::bytes) {
      net.name = std::string(f.bytes);
    } else if ((f.number == net_field::layer || f.number == net_field::layers_v1) && f.type == WireType::bytes) {
      net.layers.push_back(read_layer(f.bytes, f.number == net_field::layers_v1, path, index++));
      any_layer = true;
    }
  }
  if (!any_layer) fail(path, ": no layers: not a Caffe model (NetParameter) file");
  // Weights are matched by layer name: a second layer of a name would go unseen.
  std::set<std::string> named;
  for (const CaffeLayer& l : net.layers)
    if (!l.blobs.empty() && !named.insert(l.name).second) fail(path, ": two layers with weights are named '", l.name, "'");
  return net;
}

void write_caffemodel(const std::string& path, const CaffeNet& net, CaffeLayout layout) {
  const bool v1 = layout == CaffeLayout::v1_layers;
  MessageWriter out;
  out.bytes_field(net_field::name, net.name);
  for (const CaffeLayer& layer : net.layers) {
    MessageWriter l;
    if (v1) {
      l.bytes_field(v1_field::name, layer.name);
      l.varint_field(v1_field::type, v1_type_of(layer.type));
    } else {
      l.bytes_field(layer_field::name, layer.name);
      l.bytes_field(layer_field::type, layer.type);
      if (layer.dilation > 0) {
        MessageWriter c;
        c.varint_field(convolution_field::dilation, uint64_t(layer.dilation));
        l.bytes_field(layer_field::convolution_param, c.bytes());
      }
    }
    for (const CaffeBlob& blob : layer.blobs) {
      MessageWriter b;
      if (v1) {
        if (blob.shape.size() > 4) fail(path, ": layer '", layer.name, "': a V1 blob has at most 4 dimensions");
        Shape four(4 - blob.shape.size(), 1);
        four.insert(four.end(), blob.shape.begin(), blob.shape.end());
        for (int k = 0; k < 4; ++k) b.varint_field(blob_field::num + uint32_t(k), uint64_t(four[size_t(k)]));
      } else {
        MessageWriter shape;
        shape.packed_ints(kShapeDim, std::vector<int64_t>(blob.shape.begin(), blob.shape.end()));
        b.bytes_field(blob_field::shape, shape.bytes());
      }
      b.packed_floats(blob_field::data, blob.data.data(), blob.data.size());
      l.bytes_field(v1 ? v1_field::blobs : layer_field::blobs, b.bytes());
    }
    out.bytes_field(v1 ? net_field::layers_v1 : net_field::layer, l.bytes());
  }
  write_file(path, out.bytes());
}

}  // namespace deeplab::caffe
