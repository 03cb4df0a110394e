#include "options.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/timing.h"

namespace deeplab::jobs {

namespace {
bool accepted = false;
}  // namespace

void command_line_accepted() { accepted = true; }
bool command_line_was_accepted() { return accepted; }

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
    std::ifstream in(path);
    if (!in) fail(path, ": cannot read config file");
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

}  // namespace deeplab::jobs
