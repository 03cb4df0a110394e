// Which of cuDNN's algorithm results a convolution may use, in the order to try them. Kept apart
// from the calls into cuDNN so that the rule is tested without a GPU.
//   - Only results that succeeded and whose reported workspace fits the limit (the workspace is
//     asked again for the math type actually set: see CudnnConvolution::choose).
//   - Never fp16 down-conversion (CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION), not even under TF32.
//   - Strict fp32 (no TF32): no tensor-op results, run with FMA math whatever type cuDNN reported
//     them under, and deterministic algorithms only, so that repeated runs and resumed training
//     give the same bits.
//   - TF32: each result runs with the math type it was measured with.
#pragma once
#include <cudnn.h>

#include <cstddef>
#include <vector>

namespace deeplab::gpu {

struct ConvCandidate {
  int algo;  // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math;
  size_t workspace;  // as reported; CudnnConvolution re-asks it for `math`
};

template <typename Perf>
std::vector<ConvCandidate> conv_candidates(const Perf* results, int count, size_t workspace_limit, bool tf32) {
  std::vector<ConvCandidate> out;
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > workspace_limit) continue;
    if (r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    if (!tf32 && (r.mathType == CUDNN_TENSOR_OP_MATH || r.determinism != CUDNN_DETERMINISTIC)) continue;
    out.push_back({int(r.algo), tf32 ? r.mathType : CUDNN_FMA_MATH, r.memory});
  }
  return out;
}

// A status after which the next candidate is tried: the algorithm does not support this case
// (on this GPU, shape or math type) or could not run, rather than a bad call.
inline bool try_next_candidate(cudnnStatus_t s) {
  const int category = int(s) / 1000;
  return category == int(CUDNN_STATUS_NOT_SUPPORTED) / 1000 || category == int(CUDNN_STATUS_EXECUTION_FAILED) / 1000;
}

}  // namespace deeplab::gpu
