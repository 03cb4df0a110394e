#include "data/convert_voc.h"

#include "data/voc.h"

namespace deeplab::data {

ImageSources voc_sources(const std::string& voc_root, const std::string& label_dir, const std::string& list) {
  ImageSources sources;
  for (const std::string& name : read_name_list(list))
    sources.items.push_back({name, voc_root + "/JPEGImages/" + name + ".jpg", voc_root + "/" + label_dir + "/" + name + ".png"});
  return sources;
}

PackReport convert_voc(const ConvertOptions& o) {
  PackOptions pack;
  pack.out = o.out;
  pack.num_classes = o.num_classes;
  pack.class_names = o.class_names;
  if (pack.class_names.empty() && o.num_classes == 21) pack.class_names = voc_class_names();
  pack.storage = o.storage;
  pack.skip_bad = o.skip_bad;
  pack.overwrite = o.overwrite;
  pack.labels_required = true;
  pack.job = "convert-voc";
  return pack_dataset(voc_sources(o.voc_root, o.label_dir, o.list), pack);
}

}  // namespace deeplab::data
