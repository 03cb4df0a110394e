// One entry point per subcommand; argv starts after the subcommand's name.
#pragma once
#include "crf/dense_crf.h"
#include "image/image_io.h"
#include "models/deeplab.h"
#include "train/solver.h"
#include "options.h"

namespace deeplab::jobs {

int run_info(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_crf(int argc, char** argv);
int run_make_scenes(int argc, char** argv);
int run_convert_voc(int argc, char** argv);
int run_pack(int argc, char** argv);
int run_train(int argc, char** argv);
int run_pretrain(int argc, char** argv);
int run_segment(int argc, char** argv);
int run_evaluate(int argc, char** argv);
int run_import(int argc, char** argv);
int run_export_caffe(int argc, char** argv);
int run_forward(int argc, char** argv);
int run_crf_sweep(int argc, char** argv);

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

// The [model] and [solver] sections (--model.kind, --solver.base_lr ...), for train, pretrain and
// bench train; `kind` is --model.kind's default.
void add_model_options(po::options_description& options, const std::string& kind);
ModelSpec model_spec_from(const po::variables_map& values);
void add_solver_options(po::options_description& options);
train::SolverOptions solver_options_from(const po::variables_map& values);

}  // namespace deeplab::jobs
