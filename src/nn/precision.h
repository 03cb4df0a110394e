// The arithmetic of inference on the CPU. bf16 keeps fp32's 8-bit exponent with an 8-bit
// mantissa: oneDNN's bf16 convolutions read bf16 activations and weights, accumulate in fp32,
// and write bf16 for the next layer; the score layers (convolutions without a fused ReLU) write
// fp32, so the softmax and the CRF see fp32 scores. Wide layers set to Winograd (conv3_x) stay
// fp32 Winograd, which is faster there than bf16 direct (nn/conv.cpp). Weights are converted
// once. Training stays fp32. Worth it only where the CPU computes bf16 itself (AVX512-BF16,
// AMX): elsewhere oneDNN would emulate it, slower than fp32.
#pragma once

namespace deeplab::nn {

enum class Precision { f32, bf16 };

const char* precision_name(Precision p);
// Whether this CPU computes bf16 dot products natively (oneDNN's ISA: avx512_core_bf16 or AMX).
bool cpu_computes_bf16();

}  // namespace deeplab::nn
