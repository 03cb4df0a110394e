// The rule for which cuDNN algorithms a convolution may run (gpu/cudnn_candidates.h), on made-up
// results: it needs cuDNN's header, not a GPU.
#include <gtest/gtest.h>

#ifdef DEEPLAB_WITH_CUDA
#include "gpu/cudnn_candidates.h"

namespace deeplab::gpu {
namespace {

cudnnConvolutionFwdAlgoPerf_t result(cudnnConvolutionFwdAlgo_t algo, cudnnMathType_t math, size_t memory,
                                     cudnnDeterminism_t determinism = CUDNN_DETERMINISTIC,
                                     cudnnStatus_t status = CUDNN_STATUS_SUCCESS) {
  cudnnConvolutionFwdAlgoPerf_t r{};
  r.algo = algo, r.mathType = math, r.memory = memory, r.determinism = determinism, r.status = status;
  return r;
}

// Fastest first, as cuDNN sorts them.
const cudnnConvolutionFwdAlgoPerf_t kResults[] = {
    result(CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION, 10),
    result(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_TENSOR_OP_MATH, 20),
    result(CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_DEFAULT_MATH, 2000),  // over the limit
    result(CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_DEFAULT_MATH, 30, CUDNN_NON_DETERMINISTIC),
    result(CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, CUDNN_DEFAULT_MATH, 40, CUDNN_DETERMINISTIC,
           CUDNN_STATUS_NOT_SUPPORTED),
    result(CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_DEFAULT_MATH, 0),
    result(CUDNN_CONVOLUTION_FWD_ALGO_DIRECT, CUDNN_FMA_MATH, 5),
};

TEST(CudnnCandidates, StrictFp32IsFmaDeterministicAndNeverTensorOps) {
  const auto c = conv_candidates(kResults, 7, 1000, /*tf32=*/false);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].algo, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);  // order kept
  EXPECT_EQ(c[1].algo, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT);
  for (const ConvCandidate& x : c) EXPECT_EQ(x.math, CUDNN_FMA_MATH);
}

TEST(CudnnCandidates, Tf32KeepsTensorOpsButNeverFp16Conversion) {
  const auto c = conv_candidates(kResults, 7, 1000, /*tf32=*/true);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].algo, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
  EXPECT_EQ(c[0].math, CUDNN_TENSOR_OP_MATH);  // runs with the math it was measured with
  EXPECT_EQ(c[1].algo, CUDNN_CONVOLUTION_FWD_ALGO_GEMM);  // determinism is not asked for under TF32
  EXPECT_EQ(c[1].math, CUDNN_DEFAULT_MATH);
  for (const ConvCandidate& x : c) EXPECT_NE(x.math, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

TEST(CudnnCandidates, WorkspaceLimitAndFailedResultsAreLeftOut) {
  EXPECT_EQ(conv_candidates(kResults, 7, 4, false).size(), 1u);  // only IMPLICIT_GEMM needs <= 4 bytes
  EXPECT_EQ(conv_candidates(kResults, 3, 1000, false).size(), 0u);  // count bounds the results read
}

TEST(CudnnCandidates, UnsupportedOrFailedRunsMoveOnOtherErrorsDoNot) {
  EXPECT_TRUE(try_next_candidate(CUDNN_STATUS_NOT_SUPPORTED));
  EXPECT_TRUE(try_next_candidate(cudnnStatus_t(int(CUDNN_STATUS_NOT_SUPPORTED) + 2)));  // a sub-code
  EXPECT_TRUE(try_next_candidate(CUDNN_STATUS_EXECUTION_FAILED));
  EXPECT_FALSE(try_next_candidate(CUDNN_STATUS_BAD_PARAM));
  EXPECT_FALSE(try_next_candidate(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED));
  EXPECT_FALSE(try_next_candidate(CUDNN_STATUS_SUCCESS));
}

}  // namespace
}  // namespace deeplab::gpu
#else
TEST(CudnnCandidates, NeedsACudaBuild) { GTEST_SKIP() << "built without CUDA"; }
#endif
