// Command-line handling shared by every subcommand, in one place: --help, and --config FILE.ini
// merged under the command line (the command line wins; a key the subcommand does not know is
// an error naming the file; INI sections map to option prefixes: "[solver] base_lr = 0.001" is
// "--solver.base_lr 0.001"); the options several commands take, spelt once ([model], [solver],
// [crf], --device, --precision, --size, --threads, the CRF's inputs) and read back into the
// library's structs.
#pragma once
#include <boost/program_options.hpp>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/device.h"
#include "crf/dense_crf.h"
#include "image/image_io.h"
#include "models/deeplab.h"
#include "nn/precision.h"
#include "train/solver.h"

namespace deeplab::jobs {

namespace po = boost::program_options;

struct CommandLine {
  std::string command;  // "bench forward", "info", ...
  std::string usage;    // one line after "usage: deeplab "
  std::string about;    // what the command does, for --help
  po::options_description options{"options"};
  po::positional_options_description positional;
  po::variables_map values;
};

// Returns false when --help was asked (usage printed); throws Error on bad options.
bool parse(CommandLine& cl, int argc, char** argv);

// --device cpu|cuda|auto and --tf32, for the commands that compute (train, segment, crf,
// crf-sweep, bench); device_choice() reads --device back.
void add_device_options(CommandLine& cl);
DeviceChoice device_choice(const CommandLine& cl);

// --precision f32|bf16|auto, for the commands that run the network for inference on the CPU
// (segment, forward, bench forward). precision_from() reads it back after command_line_accepted():
// an unknown word is a bad command line (exit 2, checked by check_precision_word before); bf16 on
// a CPU that does not compute it is an error (exit 1); auto takes bf16 where the CPU computes it.
void add_precision_option(CommandLine& cl);
void check_precision_word(const CommandLine& cl);
nn::Precision precision_from(const CommandLine& cl, bool on_gpu);

// --size everywhere: "N" (square) or "WxH", width first as image sizes are given; anything else,
// or a side below 1, is a bad command line.
struct ImageSize {
  int64_t width = 0, height = 0;
};
ImageSize parse_size_option(const std::string& value);

// Adds --config to a command's options (call before parse for commands that take configs).
void add_config_option(CommandLine& cl);

// --threads N for the commands that compute on the CPU: 0 (all cores, shared among the ranks of
// a node) up to kMaxThreads; anything else is an error naming the option.
constexpr int kMaxThreads = 1024;
void set_threads_option(int threads);

// A seed option's value, read as text: a whole number from 0 to 2^64 - 1 (a C++ reader would wrap
// "-1" round to 2^64 - 1 without a word), or an error naming the option.
uint64_t seed_option(const po::variables_map& values, const char* name);

// --data.loader_threads (train, pretrain): 1 to kMaxLoaderThreads, or an error naming the option.
constexpr int kMaxLoaderThreads = 256;
void check_loader_threads(int threads);

// An error message as it may be printed: bytes that are not printable text (control characters,
// broken UTF-8: a binary value pasted by mistake) as \xNN, and each 'quoted' value cut to 80
// characters. Non-ASCII names in valid UTF-8 stay as they are.
std::string printable_message(const std::string& message);

// Exit statuses: a job reads and checks its command line, then runs. An Error before it calls
// command_line_accepted() is a bad command line (an unknown, missing or invalid option or value,
// a bad --config file): exit 2. After it, bad input or a failed run: exit 1. Each job calls it
// once its options are read and checked, before it opens any file.
void command_line_accepted();
bool command_line_was_accepted();

// The single-file outputs these options name (those given and not empty), checked after
// command_line_accepted() and before the work (check_output_file, core/atomic_path.h).
void check_output_files(const po::variables_map& values, std::initializer_list<const char*> options);

// The [crf] section's options (--crf.bi_w ...), shared by every job that runs the CRF.
void add_crf_options(po::options_description& options);
crf::CrfParams crf_params_from(const po::variables_map& values);

// One image for the CRF as crf and bench crf take it: --image with --probs or --scores, each an
// L x H x W array (--layout hwc: H x W x L) at the image's size, turned into unary energies.
struct CrfInput {
  RgbImage image;
  Tensor unary;  // L x H x W
};
void add_crf_input_options(po::options_description& options);
bool crf_input_given(const po::variables_map& values);  // --image, --probs or --scores
void check_crf_input_options(const po::variables_map& values);  // before command_line_accepted()
CrfInput read_crf_input(const po::variables_map& values);

// The [model] and [solver] sections (--model.kind, --solver.base_lr ...): [model] for train,
// pretrain, import and the network benchmarks, [solver] for train and pretrain. `kind` and
// `input_size` are --model.kind's and --model.input_size's defaults (import: 224, the released
// VGG-16).
void add_model_options(po::options_description& options, const std::string& kind, int input_size = 96);
ModelSpec model_spec_from(const po::variables_map& values);
void add_solver_options(po::options_description& options);
train::SolverOptions solver_options_from(const po::variables_map& values);

}  // namespace deeplab::jobs
