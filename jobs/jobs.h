// One entry point per subcommand; argv starts after the subcommand's name.
#pragma once
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

}  // namespace deeplab::jobs
