// --config files under the command line: sections map to prefixes, the command line wins,
// and unknown keys are errors that name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "options.h"

namespace deeplab::jobs {
namespace {

namespace fs = std::filesystem;

struct Args {
  std::vector<std::string> words;
  std::vector<char*> argv;
  explicit Args(std::vector<std::string> w) : words(std::move(w)) {
    for (auto& s : words) argv.push_back(s.data());
  }
};

CommandLine solver_command() {
  CommandLine cl;
  cl.command = "test";
  cl.options.add_options()("solver.base_lr", po::value<double>()->default_value(0.01), "")
      ("solver.max_iter", po::value<int>()->default_value(10), "")("model.kind", po::value<std::string>(), "");
  add_config_option(cl);
  return cl;
}

std::string write_ini(const std::string& text) {
  std::string p = (fs::temp_directory_path() / ("deeplab_opts_" + std::to_string(::getpid()) + ".ini")).string();
  std::ofstream(p) << text;
  return p;
}

TEST(Options, ConfigSectionsMapToPrefixesAndTheCommandLineWins) {
  std::string ini = write_ini("[solver]\nbase_lr = 0.001\nmax_iter = 6000\n[model]\nkind = largefov\n");
  CommandLine cl = solver_command();
  Args a({"test", "--config", ini, "--solver.max_iter", "20"});
  ASSERT_TRUE(parse(cl, int(a.argv.size()), a.argv.data()));
  EXPECT_DOUBLE_EQ(cl.values["solver.base_lr"].as<double>(), 0.001);
  EXPECT_EQ(cl.values["solver.max_iter"].as<int>(), 20);
  EXPECT_EQ(cl.values["model.kind"].as<std::string>(), "largefov");
  fs::remove(ini);
}

TEST(Options, UnknownConfigKeyIsAnErrorNamingTheFile) {
  std::string ini = write_ini("[solver]\nbase_lr = 0.001\nlearning_rate = 3\n");
  CommandLine cl = solver_command();
  Args a({"test", "--config", ini});
  try {
    parse(cl, int(a.argv.size()), a.argv.data());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(ini), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos) << e.what();
  }
  fs::remove(ini);
}

TEST(Options, BadValuesAndUnknownFlagsAreErrors) {
  CommandLine cl = solver_command();
  Args a({"test", "--solver.base_lr", "fast"});
  EXPECT_THROW(parse(cl, int(a.argv.size()), a.argv.data()), Error);
  CommandLine cl2 = solver_command();
  Args b({"test", "--no-such-flag"});
  EXPECT_THROW(parse(cl2, int(b.argv.size()), b.argv.data()), Error);
  CommandLine cl3 = solver_command();
  Args c({"test", "--config", "/nonexistent/x.ini"});
  EXPECT_THROW(parse(cl3, int(c.argv.size()), c.argv.data()), Error);
}

// parse() must throw an Error whose message holds every fragment.
void expect_refused(const std::vector<std::string>& words, std::initializer_list<std::string> fragments) {
  CommandLine cl = solver_command();
  Args a(words);
  try {
    parse(cl, int(a.argv.size()), a.argv.data());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const std::string& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(Options, ConfigFilesThatAreNotTextAreRefused) {
  const std::string dir = fs::temp_directory_path().string();
  expect_refused({"test", "--config", dir}, {dir, "is a folder"});
  expect_refused({"test", "--config", "/dev/zero"}, {"/dev/zero", "over 1024 KiB"});
  const std::string binary = write_ini(std::string("[solver]\nbase_lr = 1\n") + std::string(3, '\0'));
  expect_refused({"test", "--config", binary}, {binary, "binary data"});
  fs::remove(binary);
}

TEST(Options, ThreadsAreBounded) {
  EXPECT_THROW(set_threads_option(-1), Error);
  EXPECT_THROW(set_threads_option(kMaxThreads + 1), Error);
  EXPECT_THROW(set_threads_option(100000), Error);
}

TEST(Options, MessagesShowTextOnlyAndShortValues) {
  EXPECT_EQ(printable_message("--size 'ab\x01\xff' bad"), "--size 'ab\\x01\\xFF' bad");
  EXPECT_EQ(printable_message("café/données.h5: no such file"), "café/données.h5: no such file");  // UTF-8 stays
  const std::string quoted = printable_message("--size '" + std::string(500, 'x') + "': expected N or HxW");
  EXPECT_EQ(quoted, "--size '" + std::string(80, 'x') + "...': expected N or HxW");
  const std::string prose = "the model's " + std::string(200, 'y') + " classes";  // an apostrophe, not a quote
  EXPECT_EQ(printable_message(prose), prose);
}

}  // namespace
}  // namespace deeplab::jobs
