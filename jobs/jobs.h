// One entry point per subcommand; argv starts after the subcommand's name.
#pragma once

namespace deeplab::jobs {

int run_info(int argc, char** argv);
int run_bench(int argc, char** argv);

}  // namespace deeplab::jobs
