// deeplab import / export-caffe / forward: Caffe model files in and out, and the raw network on a
// raw array, for checking against other frameworks.
#include <cmath>
#include <cstdio>
#include <set>

#include "caffe/caffemodel.h"
#include "caffe/convert.h"
#include "core/error.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/text_file.h"
#include "jobs.h"
#include "models/model_file.h"
#include "options.h"

namespace deeplab::jobs {

namespace {
void print_report(const caffe::ImportReport& r) {
  for (const std::string& l : r.loaded) log_info("loaded " + l);
  for (const std::string& l : r.kept) log_info("kept as initialised: " + l);
  for (const std::string& l : r.unused) log_warn("not used: Caffe layer '" + l + "'");
  for (const std::string& w : r.warnings) log_warn(w);
}
}  // namespace

int run_import(int argc, char** argv) {
  CommandLine cl;
  cl.command = "import";
  cl.usage = "import --caffemodel F.caffemodel [--model.kind largefov|deeplab|msc-largefov|vgg16] "
             "[--model.num_classes N] [--model.width W] --out M.h5 [--from-vgg16] [--strict] [--allow-missing fc8]";
  cl.about =
      "Reads a Caffe .caffemodel (the old `layers` or the newer `layer` layout) into a deeplab model file.\n"
      "Layer names map to ours (conv1_1 ... fc8; a release's fc8_voc12 counts as fc8); every shape is\n"
      "checked, and anything missing or misshaped is an error naming the layer, unless --allow-missing\n"
      "names it (it then keeps its fresh initialisation: fine-tuning on another class count).\n"
      "--from-vgg16 initialises the model from ImageNet VGG-16 as the paper did (README: Importing).";
  cl.options.add_options()
      ("caffemodel", po::value<std::string>()->required(), "the Caffe weights")
      ("out", po::value<std::string>()->required(), "deeplab model file to write")
      ("from-vgg16", po::bool_switch(), "the file is ImageNet VGG-16: subsample fc6/fc7, fresh fc8")
      ("strict", po::bool_switch(), "Caffe layers with weights the model does not use are errors")
      ("allow-missing", po::value<std::vector<std::string>>()->multitoken()->default_value({}, ""),
       "layers that may be missing or misshaped (kept as initialised), e.g. fc8")
      ("seed", po::value<std::string>()->default_value("1"), "seed of the layers initialised afresh");
  add_model_options(cl.options, "largefov", 224);  // the model to fill; 224: the released VGG-16
  add_config_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  const ModelSpec asked = model_spec_from(v);
  const uint64_t seed = seed_option(v, "seed");
  command_line_accepted();
  check_output_files(v, {"out"});
  const std::string path = v["caffemodel"].as<std::string>();
  const caffe::CaffeNet net = caffe::read_caffemodel(path);
  const ModelSpec spec = v["from-vgg16"].as<bool>() ? asked : caffe::with_recorded_fc6_dilation(net, asked, path);
  if (spec.fc6_dilation != asked.fc6_dilation)
    log_info("fc6 dilation " + std::to_string(spec.fc6_dilation) + ", as " + path + " records it");
  Model model(spec, nn::Phase::test, seed);
  caffe::ImportReport report;
  if (v["from-vgg16"].as<bool>()) {
    report = caffe::import_vgg16(net, model, path);
  } else {
    caffe::ImportOptions o;
    o.strict = v["strict"].as<bool>();
    for (const std::string& l : v["allow-missing"].as<std::vector<std::string>>()) o.allow_missing.insert(l);
    report = caffe::import_weights(net, model, o, path);
  }
  print_report(report);
  save_model(v["out"].as<std::string>(), model);
  log_info("wrote " + v["out"].as<std::string>());
  return 0;
}

int run_export_caffe(int argc, char** argv) {
  CommandLine cl;
  cl.command = "export-caffe";
  cl.usage = "export-caffe --model M.h5 --out F.caffemodel [--prototxt deploy.prototxt --size N|WxH] [--v1]";
  cl.about =
      "Writes a deeplab model as a Caffe .caffemodel (and a deploy prototxt), so tools that read Caffe\n"
      "files, such as OpenCV's dnn module, run it.";
  cl.options.add_options()
      ("model", po::value<std::string>()->required(), "deeplab model file")
      ("out", po::value<std::string>()->required(), "Caffe weights to write")
      ("prototxt", po::value<std::string>()->default_value(""), "also write a deploy prototxt here")
      ("size", po::value<std::string>()->default_value("513"), "the prototxt's input size, N (square) or WxH")
      ("v1", po::bool_switch(), "the old `layers` layout (V1LayerParameter) instead of `layer`");
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  const std::string prototxt = v["prototxt"].as<std::string>();
  const ImageSize size = parse_size_option(v["size"].as<std::string>());
  command_line_accepted();
  check_output_files(v, {"out", "prototxt"});
  auto model = load_model(v["model"].as<std::string>(), nn::Phase::test);
  const bool v1 = v["v1"].as<bool>();
  if (v1 && has_fc6_dilation(model->spec().kind) && fc6_dilation(model->spec()) != 12)
    log_warn("the `layers` layout does not record fc6's dilation (" + std::to_string(fc6_dilation(model->spec())) +
             "): import this file with --model.fc6_dilation " + std::to_string(fc6_dilation(model->spec())));
  caffe::write_caffemodel(v["out"].as<std::string>(), caffe::export_weights(*model),
                          v1 ? caffe::CaffeLayout::v1_layers : caffe::CaffeLayout::v2_layer);
  if (!prototxt.empty()) write_file(prototxt, caffe::deploy_prototxt(*model, size.height, size.width));
  log_info("wrote " + v["out"].as<std::string>() + (prototxt.empty() ? "" : " and " + prototxt));
  return 0;
}

int run_forward(int argc, char** argv) {
  CommandLine cl;
  cl.command = "forward";
  cl.usage = "forward --model M.h5 --input X.npy --out S.npy [--precision f32|bf16|auto]";
  cl.about =
      "The raw network on a raw array: X is float32, 3 x H x W or N x 3 x H x W, already preprocessed\n"
      "(BGR, mean subtracted, as the network expects); S gets the class scores, C x h x w or N x C x h x w.";
  cl.options.add_options()
      ("model", po::value<std::string>()->required(), "deeplab model file")
      ("input", po::value<std::string>()->required(), "input array (.npy, float32 or float16)")
      ("out", po::value<std::string>()->required(), "scores (.npy, float32)");
  add_precision_option(cl);
  if (!parse(cl, argc, argv)) return 0;
  const auto& v = cl.values;
  check_precision_word(cl);
  command_line_accepted();
  check_output_files(v, {"out"});
  const nn::Precision precision = precision_from(cl, /*on_gpu=*/false);
  const std::string input = v["input"].as<std::string>();
  Tensor x = read_npy(input);
  const Shape given = x.shape();
  const bool single = x.ndim() == 3;
  if (single) x = x.reshaped({1, x.dim(0), x.dim(1), x.dim(2)});
  if (x.ndim() != 4 || x.dim(1) != 3) fail(input, ": expected 3 x H x W or N x 3 x H x W, got ", shape_str(given));
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x.data()[i])) fail(input, ": element ", i, " is not finite");
  auto model = load_model(v["model"].as<std::string>(), nn::Phase::test);
  model->net().set_precision(precision);
  Tensor scores = model->forward(x).clone();
  if (single) scores = scores.reshaped({scores.dim(1), scores.dim(2), scores.dim(3)});
  write_npy(v["out"].as<std::string>(), scores);
  log_info("scores " + shape_str(scores.shape()) + " -> " + v["out"].as<std::string>());
  return 0;
}

}  // namespace deeplab::jobs
