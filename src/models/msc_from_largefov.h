// The paper's second MSc step (Chen et al. 2015, Sec. 4.3): the multi-scale heads are added to a
// trained LargeFOV, whose own weights are kept. Everything LargeFOV has is copied (trunk, fc6,
// fc7); fc8, which now reads fc7 and the five heads' channels concatenated, takes LargeFOV's fc8
// for the fc7 channels and zeros for the heads', so the new network starts out computing exactly
// what LargeFOV computed and the heads learn from there. Training then holds the old weights
// still (train --solver.freeze conv,fc6,fc7: "only the newly added weights are learned").
#pragma once
#include <string>

#include "models/deeplab.h"
#include "models/vgg16_conversion.h"

namespace deeplab {

// `train --init FILE` where FILE holds a largefov model and the model to train is msc-largefov:
// the two must agree in classes, width and fc6's dilation.
WeightsReport init_msc_from_largefov_file(const std::string& path, Model& msc);

}  // namespace deeplab
