// A contact sheet of what a network is trained on: the first columns x rows examples of a source,
// as epoch 0 draws them, side by side in one PNG (pretrain writes DIR/examples.png), so a user
// can see the photographs before trusting what was learnt from them.
#pragma once
#include <string>

#include "data/example_source.h"

namespace deeplab::data {

void write_example_sheet(const std::string& path, ExampleSource& examples, int columns, int rows);

}  // namespace deeplab::data
