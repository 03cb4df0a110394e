// The GPU backend made known to the layers that pick a device, models' Scorer and train's
// make_step, which know only the DeviceNetwork and Step interfaces and never include src/gpu.
// The program registers it once, first thing (jobs/main.cpp); a build without CUDA has nothing
// to register, and asking for a GPU there says why.
#pragma once

namespace deeplab::gpu {

void register_gpu_backend();

}  // namespace deeplab::gpu
