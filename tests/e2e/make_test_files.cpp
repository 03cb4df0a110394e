// Writes small files for the end-to-end scripts:
//   make_test_files model OUT.h5 KIND CLASSES WIDTH   a randomly initialised model
//   make_test_files foreign OUT.h5                    an HDF5 file deeplab did not write
#include <cstdio>
#include <string>

#include "core/error.h"
#include "core/h5.h"
#include "models/model_file.h"

int main(int argc, char** argv) {
  using namespace deeplab;
  try {
    const std::string what = argc > 2 ? argv[1] : "";
    if (what == "model" && argc == 6) {
      ModelSpec spec{parse_model_kind(argv[3]), std::stoi(argv[4]), std::stod(argv[5])};
      Model m(spec, nn::Phase::test, 1);
      save_model(argv[2], m);
      return 0;
    }
    if (what == "foreign") {
      h5::File f = h5::File::create(argv[2]);
      f.write_tensor("data/x", Tensor({3, 3}));
      return 0;
    }
    std::fprintf(stderr, "usage: make_test_files model OUT.h5 KIND CLASSES WIDTH | foreign OUT.h5\n");
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "make_test_files: %s\n", e.what());
    return 1;
  }
}
