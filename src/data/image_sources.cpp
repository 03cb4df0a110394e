#include "data/image_sources.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"
#include "image/image_io.h"

namespace deeplab::data {

namespace fs = std::filesystem;

namespace {

bool named_like_an_image(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  static const std::set<std::string> kImageExtensions = {".jpg", ".jpeg", ".jpe", ".png", ".ppm",
                                                          ".pgm", ".pnm",  ".bmp"};
  return kImageExtensions.count(ext) > 0;
}

enum class Kind { image, bad, other };

// By content; `why` says what is wrong with a bad one. A picture in another format is bad, not
// other: a TIFF in a folder of photographs was meant to be packed.
Kind classify(const fs::path& p, std::string& why) {
  ImageFileKind kind;
  try {
    kind = sniff_image_file(p.string());
  } catch (const Error&) {
    why = "cannot be opened";
    return Kind::bad;
  }
  if (kind.format) return Kind::image;
  why = kind.reason;
  if (kind.other_picture) return Kind::bad;
  if (!named_like_an_image(p)) return Kind::other;
  std::error_code ec;
  if (fs::file_size(p, ec) == 0) why = "empty file";
  return Kind::bad;
}

bool hidden(const fs::path& relative) {
  for (const fs::path& part : relative)
    if (!part.empty() && part.string()[0] == '.' && part != "." && part != "..") return true;
  return false;
}

std::string name_of(const fs::path& relative) { return fs::path(relative).replace_extension().generic_string(); }

// Pairs each item with LABELS/NAME.png, and counts the label maps left over.
void pair_labels(ImageSources& found, const std::string& labels) {
  if (labels.empty()) return;
  if (!fs::is_directory(labels)) fail(labels, ": no such folder (--labels)");
  std::set<std::string> used;
  for (PackItem& item : found.items) {
    const fs::path label = fs::path(labels) / (item.name + ".png");
    if (fs::is_regular_file(label)) {
      item.label = label.string();
      used.insert(fs::weakly_canonical(label).string());
    }
  }
  for (auto it = fs::recursive_directory_iterator(labels); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && it->path().extension() == ".png" && !used.count(fs::weakly_canonical(it->path()).string()))
      ++found.unpaired_labels;
}

// Two files may not give one name ("a.jpg" and "a.png").
void check_unique_names(const std::vector<PackItem>& items, const std::string& source) {
  std::map<std::string, const PackItem*> seen;
  for (const PackItem& item : items) {
    auto [it, fresh] = seen.emplace(item.name, &item);
    if (!fresh)
      fail(source, ": '", it->second->image, "' and '", item.image, "' would both be entry '", item.name,
           "'; rename one of them");
  }
}

ImageSources walk_folder(const std::string& folder) {
  ImageSources found;
  std::vector<fs::path> files;
  std::error_code ec;
  fs::path dir = fs::path(folder).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "photos/" is "photos"
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path relative = it->path().lexically_relative(dir);
    if (hidden(relative)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(relative);
  }
  if (ec) fail(folder, ": cannot walk the folder: ", ec.message());
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.generic_string() < b.generic_string(); });
  for (const fs::path& relative : files) {
    const fs::path full = fs::path(dir) / relative;
    std::string why;
    switch (classify(full, why)) {
      case Kind::image: found.items.push_back({name_of(relative), full.string(), ""}); break;
      case Kind::bad: found.bad.push_back(full.string() + ": " + why); break;
      case Kind::other: ++found.ignored; break;
    }
  }
  return found;
}

ImageSources read_list(const std::string& list) {
  bool an_image = false;
  try {
    const ImageFileKind kind = sniff_image_file(list);
    an_image = kind.format || kind.other_picture;
  } catch (const Error&) {
  }
  if (an_image) fail(list, ": is an image, not a folder or a list of images; give its folder, or a list file naming it");
  std::ifstream in(list);
  if (!in) fail(list, ": cannot read the list file");
  const fs::path base = fs::absolute(list).parent_path();
  std::vector<fs::path> paths;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const size_t start = line.find_first_not_of(" \t\r"), end = line.find_last_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    const fs::path p = (base / line.substr(start, end - start + 1)).lexically_normal();
    if (!fs::is_regular_file(p)) fail(list, ": line ", number, ": ", p.string(), ": no such file");
    paths.push_back(p);
  }
  // Names are relative to the deepest folder that holds every listed image.
  fs::path common;
  for (const fs::path& p : paths) {
    if (common.empty()) {
      common = p.parent_path();
      continue;
    }
    fs::path shared;
    for (auto a = common.begin(), b = p.begin(); a != common.end() && b != p.end() && *a == *b; ++a, ++b) shared /= *a;
    common = shared;
  }
  ImageSources found;
  for (const fs::path& p : paths) {
    std::string why;
    const Kind kind = classify(p, why);
    if (kind == Kind::image) found.items.push_back({name_of(p.lexically_relative(common)), p.string(), ""});
    else found.bad.push_back(p.string() + ": " + why);
  }
  return found;
}

}  // namespace

ImageSources find_images(const std::string& source, const std::string& labels) {
  if (!fs::exists(source)) fail(source, ": no such folder or list file");
  ImageSources found = fs::is_directory(source) ? walk_folder(source) : read_list(source);
  if (found.items.empty() && found.bad.empty())
    fail(source, ": no images found (JPEG, PNG, PPM/PGM or BMP, recognised by their content)");
  check_unique_names(found.items, source);
  pair_labels(found, labels);
  return found;
}

}  // namespace deeplab::data
