// deeplab: one program, one subcommand per job. Errors print one line naming what is wrong
// and exit non-zero.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <new>
#include <string>

#include "core/signals.h"
#include "core/error.h"
#include "core/timing.h"
#include "dist/mpi.h"
#ifdef DEEPLAB_WITH_CUDA
#include "gpu/backend.h"
#endif
#include "jobs.h"
#include "options.h"

namespace {

// Jobs over ranks split their work across MPI ranks; the others make one output from one input,
// so under mpirun rank 0 does them alone (the other ranks would only repeat them, or collide on
// the output).
enum class Ranks { split, rank0 };
struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
  Ranks ranks;
};

const Command kCommands[] = {
    {"info", deeplab::jobs::run_info, "describe a deeplab HDF5 file (model, checkpoint, dataset or predictions)", Ranks::rank0},
    {"pack", deeplab::jobs::run_pack, "pack a folder or list of images (labels optional) into a dataset file (MPI)", Ranks::split},
    {"convert-voc", deeplab::jobs::run_convert_voc, "convert a PASCAL VOC folder and list into a dataset file (MPI)", Ranks::split},
    {"make-scenes", deeplab::jobs::run_make_scenes, "make the built-in data set (Fashion-MNIST scenes)", Ranks::rank0},
    {"pretrain", deeplab::jobs::run_pretrain, "train the VGG-16 classifier on garment photographs (the ImageNet step), MPI", Ranks::split},
    {"train", deeplab::jobs::run_train, "train a network with SGD, alone or data-parallel over MPI ranks", Ranks::split},
    {"segment", deeplab::jobs::run_segment, "segment a data set with a trained model (and the CRF), resumable, over MPI ranks", Ranks::split},
    {"evaluate", deeplab::jobs::run_evaluate, "score predictions against the ground truth: IoU per class, mean IoU", Ranks::split},
    {"crf-sweep", deeplab::jobs::run_crf_sweep, "search the CRF's parameters by mean IoU over MPI ranks, resumable", Ranks::split},
    {"import", deeplab::jobs::run_import, "read Caffe weights (.caffemodel: a DeepLab release, ImageNet VGG-16) into a model file", Ranks::rank0},
    {"export-caffe", deeplab::jobs::run_export_caffe, "write a model as Caffe weights and a deploy prototxt", Ranks::rank0},
    {"forward", deeplab::jobs::run_forward, "the raw network on a raw .npy array: scores out as .npy", Ranks::rank0},
    {"crf", deeplab::jobs::run_crf, "fully connected CRF on one image: probabilities or scores in, labels out", Ranks::rank0},
    {"bench", deeplab::jobs::run_bench, "measure speed: bench forward | train | crf | loader", Ranks::split},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: deeplab COMMAND [options]   (deeplab COMMAND --help for its options)\n\ncommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  // Large blocks (batches, images, CRF buffers) straight from the kernel and back when freed.
  // By default glibc raises this threshold after the first large free, and then blocks that
  // loader threads allocate and the trainer frees stay resident: RSS grew by ~0.9 MB per image
  // loaded (899 MB after 1,000 images at 321 crops; 120 MB with this).
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  deeplab::watch_signals();  // before MPI, OpenMP or the loader start threads
  if (const std::string problem = deeplab::dist::launch_problem(); !problem.empty()) {
    std::fprintf(stderr, "deeplab: %s\n", problem.c_str());
    return 2;
  }
  deeplab::dist::Mpi& mpi = deeplab::dist::Mpi::start(&argc, &argv);
#ifdef DEEPLAB_WITH_CUDA
  deeplab::gpu::register_gpu_backend();  // --device cuda reaches the GPU code through it
#endif
  // CPU ranks on one node share its cores instead of each starting a thread per core.
  if (mpi.local_size() > 1 && !std::getenv("OMP_NUM_THREADS"))
    deeplab::set_cpu_threads(deeplab::dist::cpu_threads_per_rank(mpi.local_size()));
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    // One line on stderr, then the status; under MPI the other ranks must not wait for this one.
    auto report = [&](int status, const char* kind, const std::string& what) {
      const std::string message = deeplab::jobs::printable_message(what);
      if (mpi.size() > 1) std::fprintf(stderr, "deeplab %s: rank %d: %s: %s\n", c.name, mpi.rank(), kind, message.c_str());
      else std::fprintf(stderr, "deeplab %s: %s: %s\n", c.name, kind, message.c_str());
      if (mpi.size() > 1) mpi.abort(status);
      return status;
    };
    if (c.ranks == Ranks::rank0 && mpi.size() > 1) {
      // Rank 0 works with every core it may use (the node's, unless the launcher bound it to
      // fewer); the others wait for it asleep (a failure on rank 0 aborts them) and exit as it does.
      if (mpi.rank() != 0) {
        mpi.idle_barrier();
        return 0;
      }
      if (!std::getenv("OMP_NUM_THREADS")) deeplab::set_cpu_threads(deeplab::dist::cpu_threads_per_rank(1));
    }
    try {
      const int status = c.run(argc - 1, argv + 1);
      if (c.ranks == Ranks::rank0) mpi.idle_barrier();
      return status;
    } catch (const deeplab::Error& e) {
      // A bad command line exits 2, bad input or a failed run 1 (jobs/options.h).
      return report(deeplab::jobs::command_line_was_accepted() ? 1 : 2, "error", e.what());
    } catch (const std::filesystem::filesystem_error& e) {
      // The system refused (a read-only or full disk, no permission): the path and its reason.
      return report(1, "error", e.path1().string() + ": " + e.code().message());
    } catch (const std::bad_alloc&) {
      return report(1, "error", "out of memory (the input is too large for this machine, or use fewer ranks per node)");
    } catch (const std::exception& e) {
      return report(3, "internal error", e.what());
    }
  }
  std::fprintf(stderr, "deeplab: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
