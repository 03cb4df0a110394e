// Which files a data set is packed from: a folder walked recursively, or a list of image paths,
// each image paired with a label map when one is there.
//   - Images are recognised by their first bytes (JPEG, PNG, PPM/PGM, BMP), never by their
//     names. A file named like an image (.jpg, .png, ...) that is not one is a bad entry; other
//     files (README.txt, .DS_Store) are ignored, and so are hidden files and folders.
//   - A folder's entries are sorted by relative path (bytewise); a list keeps its order.
//   - An entry's name is its path without the extension: relative to the folder, or, for a list,
//     to the deepest folder that holds every listed image ("2008_000001", "site4/img_0012").
//   - The label map of NAME is LABELS/NAME.png, when there is one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace deeplab::data {

struct PackItem {
  std::string name;
  std::string image;  // path of the image file
  std::string label;  // path of its label PNG, or empty
};

struct ImageSources {
  std::vector<PackItem> items;
  std::vector<std::string> bad;  // "PATH: what is wrong", found while looking
  int64_t ignored = 0;           // files that are not images, by name or content
  int64_t unpaired_labels = 0;   // label PNGs in the labels folder that no image has
};

// `source` is a folder or a list file (one path per line; blank lines and lines starting with
// '#' skipped; relative paths are relative to the list file's folder). `labels`: a folder, or
// empty. Errors name the folder, the list and its line (a missing file, two entries of one name).
ImageSources find_images(const std::string& source, const std::string& labels);

}  // namespace deeplab::data
