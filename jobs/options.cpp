#include "options.h"

#include <cstdio>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/text_file.h"
#include "core/timing.h"

namespace deeplab::jobs {

namespace {
bool accepted = false;

// A config file is read whole before it is parsed: a folder, an unreadable file, one over 1 MiB
// or one holding binary data (--config /dev/zero, a model file by mistake) is an error naming it.
constexpr size_t kMaxConfigBytes = size_t(1) << 20;
std::string read_config_file(const std::string& path) {
  std::string text = read_file(path, kMaxConfigBytes, "config file");
  if (text.find('\0') != std::string::npos) fail(path, ": holds binary data, not INI text");
  return text;
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
                           "f32 | bf16 (the CPU's bf16 convolutions, ~2x faster where it has AVX512-BF16 or AMX) | "
                           "auto (bf16 where the CPU has it)");
}

void check_precision_word(const CommandLine& cl) {
  const std::string word = cl.values["precision"].as<std::string>();
  if (word != "f32" && word != "bf16" && word != "auto") fail("--precision ", word, ": expected f32, bf16 or auto");
}

nn::Precision precision_from(const CommandLine& cl, bool on_gpu) {
  const std::string word = cl.values["precision"].as<std::string>();
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

}  // namespace deeplab::jobs
