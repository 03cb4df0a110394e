// Under mpirun -np N: each rank reads one epoch through its own Loader; rank 0 gathers the image
// indices and checks that the shares are disjoint, equal in size, and cover the epoch. Rank 0
// writes the data set first. Exit 0 and "1 passed, 0 failed" when all holds.
#include <mpi.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "data/loader.h"

using namespace deeplab;

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const std::string path = argc > 1 ? argv[1] : "/tmp/deeplab_mpi_loader.h5";
  const int64_t images = 47;
  int ok = 1;
  try {
    if (rank == 0) {
      data::DatasetWriter w(path, 4, {});
      Rng rng(3);
      for (int64_t i = 0; i < images; ++i) {
        data::Sample s{"img" + std::to_string(i), 12, 10, std::vector<uint8_t>(360), std::vector<uint8_t>(120)};
        for (auto& v : s.rgb) v = uint8_t(rng.below(256));
        for (auto& v : s.labels) v = uint8_t(rng.below(4));
        w.add(s);
      }
      w.commit();
    }
    MPI_Barrier(MPI_COMM_WORLD);
    data::LoaderOptions o;
    o.batch = 2;
    o.augment.crop_size = 8;
    o.rank = rank;
    o.ranks = ranks;
    data::Loader loader(path, o);
    std::vector<int64_t> mine;
    for (int64_t k = 0; k < loader.steps_per_epoch(); ++k)
      for (int64_t i : loader.next().indices) mine.push_back(i);
    const int count = int(mine.size());
    std::vector<int> counts(ranks);
    MPI_Gather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<int> offsets(ranks, 0);
    int total = 0;
    for (int r = 0; r < ranks; ++r) offsets[r] = total, total += counts[r];
    std::vector<int64_t> all(rank == 0 ? total : 0);
    MPI_Gatherv(mine.data(), count, MPI_INT64_T, all.data(), counts.data(), offsets.data(), MPI_INT64_T, 0,
                MPI_COMM_WORLD);
    if (rank == 0) {
      std::set<int64_t> seen(all.begin(), all.end());
      const int64_t per_rank = images / ranks / 2 * 2;
      for (int r = 0; r < ranks; ++r)
        if (counts[r] != per_rank) ok = 0, std::printf("rank %d read %d images, expected %lld\n", r, counts[r], (long long)per_rank);
      if (seen.size() != all.size()) ok = 0, std::printf("an image was read by two ranks\n");
      if (int64_t(seen.size()) != per_rank * ranks) ok = 0, std::printf("the epoch was not covered\n");
      std::filesystem::remove(path);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "rank %d: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // one failing rank ends the job; nobody waits forever
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0) std::printf("%s: %d ranks\n%d passed, %d failed\n", ok ? "shards disjoint and covering" : "FAILED", ranks, ok, 1 - ok);
  MPI_Finalize();
  return ok ? 0 : 1;
}
