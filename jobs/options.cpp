#include "options.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "core/atomic_path.h"
#include "core/error.h"
#include "core/h5.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/text_file.h"
#include "core/timing.h"

namespace deeplab::jobs {

namespace {
bool accepted = false;

// A config file is read whole before it is parsed: a folder, an unreadable file, one over 1 MiB
// or one holding binary data (--config /dev/zero, a model file by mistake) is an error naming it.
constexpr size_t kMaxConfigBytes = size_t(1) << 20;
// Editors' INI habits are taken as they come: a UTF-8 byte-order mark, and ';' comment lines
// beside '#' ones (the parser knows '#' only).
std::string read_config_file(const std::string& path) {
  std::string text = read_file(path, kMaxConfigBytes, "config file");
  if (text.find('\0') != std::string::npos) fail(path, ": holds binary data, not INI text");
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  for (size_t line = 0; line < text.size(); line = text.find('\n', line) + 1) {
    const size_t first = text.find_first_not_of(" \t", line);
    if (first != std::string::npos && text[first] == ';') text[first] = '#';
    if (text.find('\n', line) == std::string::npos) break;
  }
  return text;
}

// "P.npy", or "F.h5:/path/in/file".
Tensor read_array(const std::string& spec) {
  const size_t colon = spec.find(".h5:");
  if (colon != std::string::npos) {
    const std::string file = spec.substr(0, colon + 3), entry = spec.substr(colon + 4);
    return h5::File::open_read(file).read_tensor(entry);
  }
  return read_npy(spec);
}

// The length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_length(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  return n;
}
}  // namespace

std::string printable_message(const std::string& message) {
  constexpr size_t kMaxQuoted = 80;
  std::string out;
  bool quoted = false;
  size_t quoted_chars = 0;
  for (size_t i = 0; i < message.size();) {
    const auto c = static_cast<unsigned char>(message[i]);
    // A quote opens after a space, '(' or '=' (not an apostrophe inside a word) and closes anywhere.
    const unsigned char before = i > 0 ? static_cast<unsigned char>(message[i - 1]) : ' ';
    if (c == '\'' && (quoted || before == ' ' || before == '(' || before == '=')) quoted = !quoted, quoted_chars = 0;
    const size_t n = utf8_length(message, i);
    if (quoted && c != '\'' && ++quoted_chars > kMaxQuoted) {  // skip to the closing quote
      if (quoted_chars == kMaxQuoted + 1) out += "...";
      i += n ? n : 1;
      continue;
    }
    if (n == 0 || (n == 1 && ((c < 0x20 && c != '\n') || c == 0x7F))) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
      ++i;
    } else {
      out.append(message, i, n);
      i += n;
    }
  }
  return out;
}

void command_line_accepted() { accepted = true; }
bool command_line_was_accepted() { return accepted; }

void check_output_files(const po::variables_map& values, std::initializer_list<const char*> options) {
  for (const char* name : options)
    if (values.count(name) && !values[name].as<std::string>().empty()) check_output_file(values[name].as<std::string>());
}

uint64_t seed_option(const po::variables_map& values, const char* name) {
  const std::string text = values[name].as<std::string>();
  errno = 0;
  char* end = nullptr;
  const unsigned long long seed = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || errno == ERANGE || *end != 0)
    fail("--", name, " '", text, "': expected a whole number from 0 to 18446744073709551615");
  return uint64_t(seed);
}

void check_loader_threads(int threads) {
  if (threads < 1 || threads > kMaxLoaderThreads)
    fail("--data.loader_threads ", threads, ": expected 1 to ", kMaxLoaderThreads);
}

void set_threads_option(int threads) {
  if (threads < 0 || threads > kMaxThreads)
    fail("--threads ", threads, ": expected 0 (all cores) to ", kMaxThreads);
  set_cpu_threads(threads);
}

void add_config_option(CommandLine& cl) {
  cl.options.add_options()("config", po::value<std::string>(), "INI file with defaults; the command line wins");
}

void add_device_options(CommandLine& cl) {
  cl.options.add_options()
      ("device", po::value<std::string>()->default_value("cpu"),
       "cpu | cuda | auto (a GPU when one is visible); rank r takes GPU (local rank mod GPUs)")
      ("tf32", po::bool_switch(), "let GPU convolutions use TF32 tensor cores (default: strict fp32)");
}

ImageSize parse_size_option(const std::string& value) {
  auto side = [&](const std::string& digits) -> int64_t {
    if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
    return std::stoll(digits);
  };
  const size_t x = value.find('x');
  const int64_t w = side(value.substr(0, x)), h = x == std::string::npos ? w : side(value.substr(x + 1));
  if (w < 1 || h < 1) fail("--size '", value, "': expected N (a square) or WxH, width x height, in pixels");
  return {w, h};
}

void add_precision_option(CommandLine& cl) {
  cl.options.add_options()("precision", po::value<std::string>()->default_value("f32"),
                           "f32 (or fp32) | bf16 (the CPU's bf16 convolutions, ~2x faster where it has "
                           "AVX512-BF16 or AMX) | auto (bf16 where the CPU has it)");
}

namespace {
// DESIGN.md's name for it, fp32, is taken as well.
std::string precision_word(const CommandLine& cl) {
  const std::string word = cl.values["precision"].as<std::string>();
  return word == "fp32" ? "f32" : word;
}
}  // namespace

void check_precision_word(const CommandLine& cl) {
  const std::string word = precision_word(cl);
  if (word != "f32" && word != "bf16" && word != "auto") fail("--precision ", word, ": expected f32 (fp32), bf16 or auto");
}

nn::Precision precision_from(const CommandLine& cl, bool on_gpu) {
  const std::string word = precision_word(cl);
  if (word == "f32" || (word == "auto" && on_gpu)) return nn::Precision::f32;
  if (on_gpu) fail("--precision bf16 is for the CPU; on a GPU see --tf32");
  if (nn::cpu_computes_bf16()) return nn::Precision::bf16;
  if (word == "bf16")
    fail("--precision bf16: this CPU has neither AVX512-BF16 nor AMX, so bf16 would be emulated, slower than f32");
  log_warn("--precision auto: this CPU has neither AVX512-BF16 nor AMX; computing in f32");
  return nn::Precision::f32;
}

DeviceChoice device_choice(const CommandLine& cl) { return parse_device_choice(cl.values["device"].as<std::string>()); }

bool parse(CommandLine& cl, int argc, char** argv) {
  cl.options.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(argc, argv).options(cl.options).positional(cl.positional).run(), cl.values);
  } catch (const po::error& e) {
    fail(e.what(), " (see deeplab ", cl.command, " --help)");
  }
  if (cl.values.count("help")) {
    std::cout << "usage: deeplab " << cl.usage << "\n\n" << cl.about << "\n\n" << cl.options << "\n";
    return false;
  }
  if (cl.values.count("config")) {
    const std::string path = cl.values["config"].as<std::string>();
    std::istringstream in(read_config_file(path));
    try {
      // store() keeps values already present, so the command line wins over the file.
      po::store(po::parse_config_file(in, cl.options, /*allow_unregistered=*/false), cl.values);
    } catch (const po::error& e) {
      fail(path, ": ", e.what());
    }
  }
  try {
    po::notify(cl.values);
  } catch (const po::error& e) {
    fail(e.what(), " (see deeplab ", cl.command, " --help)");
  }
  if (cl.values.count("device")) device_choice(cl);  // a bad name is a bad command line
  return true;
}

void add_crf_options(po::options_description& options) {
  const crf::CrfParams d;
  options.add_options()
      ("crf.bi_w", po::value<float>()->default_value(d.bi_w), "appearance kernel weight (w1)")
      ("crf.bi_xy_std", po::value<float>()->default_value(d.bi_xy_std), "appearance kernel position std (theta_alpha)")
      ("crf.bi_rgb_std", po::value<float>()->default_value(d.bi_rgb_std), "appearance kernel colour std (theta_beta)")
      ("crf.pos_w", po::value<float>()->default_value(d.pos_w), "smoothness kernel weight (w2)")
      ("crf.pos_xy_std", po::value<float>()->default_value(d.pos_xy_std), "smoothness kernel std (theta_gamma)")
      ("crf.iterations", po::value<int>()->default_value(d.iterations), "mean-field iterations")
      ("crf.normalization", po::value<std::string>()->default_value("per-pixel"),
       "per-pixel (the 2011 code DeepLab used) | symmetric");
}

crf::CrfParams crf_params_from(const po::variables_map& v) {
  crf::CrfParams p;
  p.bi_w = v["crf.bi_w"].as<float>();
  p.bi_xy_std = v["crf.bi_xy_std"].as<float>();
  p.bi_rgb_std = v["crf.bi_rgb_std"].as<float>();
  p.pos_w = v["crf.pos_w"].as<float>();
  p.pos_xy_std = v["crf.pos_xy_std"].as<float>();
  p.iterations = v["crf.iterations"].as<int>();
  const std::string norm = v["crf.normalization"].as<std::string>();
  if (norm == "per-pixel")
    p.normalization = crf::Normalization::per_pixel;
  else if (norm == "symmetric")
    p.normalization = crf::Normalization::symmetric;
  else
    fail("--crf.normalization '", norm, "': expected per-pixel or symmetric");
  crf::validate(p);
  return p;
}

void add_crf_input_options(po::options_description& options) {
  options.add_options()
      ("image", po::value<std::string>(), "the photograph (PNG, JPEG, PPM, ...)")
      ("probs", po::value<std::string>(), "class probabilities: P.npy or F.h5:/dataset")
      ("scores", po::value<std::string>(), "raw class scores instead (softmax applied)")
      ("layout", po::value<std::string>()->default_value("chw"), "chw (L x H x W) or hwc (H x W x L)");
}

bool crf_input_given(const po::variables_map& v) { return v.count("image") || v.count("probs") || v.count("scores"); }

void check_crf_input_options(const po::variables_map& v) {
  if (!v.count("image")) fail("the option '--image' is required");
  if (v.count("probs") == v.count("scores")) fail("crf: give exactly one of --probs and --scores");
  const std::string layout = v["layout"].as<std::string>();
  if (layout != "chw" && layout != "hwc") fail("--layout '", layout, "': expected chw or hwc");
}

CrfInput read_crf_input(const po::variables_map& v) {
  const std::string image_path = v["image"].as<std::string>();
  CrfInput in{read_rgb_image(image_path), {}};
  const bool from_scores = v.count("scores") > 0;
  const std::string array_path = v[from_scores ? "scores" : "probs"].as<std::string>();
  const std::string layout = v["layout"].as<std::string>();
  Tensor classes = read_array(array_path);
  const bool hwc = layout == "hwc";
  if (classes.ndim() != 3)
    fail(array_path, ": expected 3 dimensions (", hwc ? "H x W x L" : "L x H x W", "), got ", shape_str(classes.shape()));
  const int64_t h = classes.dim(hwc ? 0 : 1), w = classes.dim(hwc ? 1 : 2);
  if (h != in.image.height || w != in.image.width)
    fail(array_path, ": ", h, " x ", w, " (H x W) but ", image_path, " is ", in.image.height, " x ", in.image.width,
         (hwc ? "" : " (for H x W x L arrays pass --layout hwc)"));
  try {
    if (from_scores)
      in.unary = crf::unary_from_scores(hwc ? hwc_to_chw(classes) : classes);
    else  // the common case, a class map of tens of MB: straight from H x W x L, in one pass
      in.unary = hwc ? crf::unary_from_probabilities_hwc(classes) : crf::unary_from_probabilities(classes);
  } catch (const Error& e) {
    fail(array_path, ": ", e.what());
  }
  return in;
}

void add_model_options(po::options_description& options, const std::string& kind, int input_size) {
  const ModelSpec d;
  options.add_options()
      ("model.kind", po::value<std::string>()->default_value(kind), "largefov | deeplab | msc-largefov | vgg16")
      ("model.num_classes", po::value<int>()->default_value(d.num_classes), "classes, background included")
      ("model.width", po::value<double>()->default_value(d.width), "channel width multiplier (1: the paper's network)")
      ("model.dropout", po::value<float>()->default_value(d.dropout), "dropout ratio after fc6 and fc7")
      ("model.conv", po::value<std::string>()->default_value("auto"), "convolution algorithm: auto | direct | winograd")
      ("model.input_size", po::value<int>()->default_value(input_size), "vgg16: the square input its fc6 covers (multiple of 32)")
      ("model.fc6_dilation", po::value<int>()->default_value(0),
       "largefov, msc-largefov: fc6's dilation (0: the paper's 12; 4 from a classifier with a 3x3 fc6)");
}

ModelSpec model_spec_from(const po::variables_map& v) {
  ModelSpec s;
  s.kind = parse_model_kind(v["model.kind"].as<std::string>());
  s.num_classes = v["model.num_classes"].as<int>();
  s.width = v["model.width"].as<double>();
  s.dropout = v["model.dropout"].as<float>();
  s.conv_policy = parse_conv_policy(v["model.conv"].as<std::string>());
  if (s.kind == ModelKind::vgg16) s.input_size = v["model.input_size"].as<int>();
  s.fc6_dilation = v["model.fc6_dilation"].as<int>();
  if (!(s.dropout >= 0 && s.dropout < 1)) fail("--model.dropout ", s.dropout, " must be in [0, 1)");
  if (s.fc6_dilation < 0 || s.fc6_dilation > kMaxFc6Dilation)
    fail("--model.fc6_dilation ", s.fc6_dilation, " must be in 0..", kMaxFc6Dilation);
  if (s.fc6_dilation != 0 && !has_fc6_dilation(s.kind))
    fail("--model.fc6_dilation applies to largefov and msc-largefov, not ", model_kind_name(s.kind));
  validate(s);
  return s;
}

void add_solver_options(po::options_description& options) {
  const train::SolverOptions d;
  options.add_options()
      ("solver.base_lr", po::value<double>()->default_value(d.base_lr), "learning rate")
      ("solver.momentum", po::value<double>()->default_value(d.momentum), "momentum")
      ("solver.weight_decay", po::value<double>()->default_value(d.weight_decay), "L2 weight decay")
      ("solver.lr_policy", po::value<std::string>()->default_value("step"), "fixed | step | poly")
      ("solver.stepsize", po::value<int64_t>()->default_value(d.stepsize), "step: iterations between lr drops")
      ("solver.gamma", po::value<double>()->default_value(d.gamma), "step: lr factor at each drop")
      ("solver.power", po::value<double>()->default_value(d.power), "poly: exponent")
      ("solver.warmup", po::value<int64_t>()->default_value(d.warmup), "iterations ramping the rate linearly up from 0")
      ("solver.max_iter", po::value<int64_t>()->default_value(d.max_iter), "iterations (updates) in all (0: write the starting point as final.h5)")
      ("solver.batch", po::value<int>()->default_value(d.batch), "images per rank per pass")
      ("solver.iter_size", po::value<int>()->default_value(d.iter_size), "passes accumulated per update")
      ("solver.snapshot", po::value<int64_t>()->default_value(d.snapshot), "checkpoint every N iterations (0: none)")
      ("solver.snapshot_keep", po::value<int>()->default_value(d.snapshot_keep), "checkpoints kept")
      ("solver.display", po::value<int64_t>()->default_value(d.display), "iterations per log line")
      ("solver.seed", po::value<std::string>()->default_value(std::to_string(d.seed)), "seed of weights, data order, crops, dropout")
      ("solver.loss_normalization", po::value<std::string>()->default_value("per-pixel"),
       "divide the summed loss by the images (per-image) or labelled pixels (per-pixel) of the global batch")
      ("solver.freeze", po::value<std::string>()->default_value(""),
       "layers to hold still, by name prefix, comma-separated (conv,fc6,fc7: train only the MSc heads and fc8)");
}

train::SolverOptions solver_options_from(const po::variables_map& v) {
  train::SolverOptions s;
  s.base_lr = v["solver.base_lr"].as<double>();
  s.momentum = v["solver.momentum"].as<double>();
  s.weight_decay = v["solver.weight_decay"].as<double>();
  s.lr_policy = train::parse_lr_policy(v["solver.lr_policy"].as<std::string>());
  s.stepsize = v["solver.stepsize"].as<int64_t>();
  s.gamma = v["solver.gamma"].as<double>();
  s.power = v["solver.power"].as<double>();
  s.warmup = v["solver.warmup"].as<int64_t>();
  s.max_iter = v["solver.max_iter"].as<int64_t>();
  s.batch = v["solver.batch"].as<int>();
  s.iter_size = v["solver.iter_size"].as<int>();
  s.snapshot = v["solver.snapshot"].as<int64_t>();
  s.snapshot_keep = v["solver.snapshot_keep"].as<int>();
  s.display = v["solver.display"].as<int64_t>();
  s.seed = seed_option(v, "solver.seed");
  s.loss_normalization = train::parse_loss_normalization(v["solver.loss_normalization"].as<std::string>());
  std::stringstream freeze(v["solver.freeze"].as<std::string>());
  for (std::string prefix; std::getline(freeze, prefix, ',');) {
    prefix.erase(0, prefix.find_first_not_of(" \t"));
    prefix.erase(prefix.find_last_not_of(" \t") + 1);
    if (prefix.empty()) fail("solver.freeze '", v["solver.freeze"].as<std::string>(), "': an empty layer name");
    s.freeze.push_back(prefix);
  }
  train::validate(s);
  return s;
}

}  // namespace deeplab::jobs
