// Google Benchmark micro-benchmarks of single operators at the sizes LargeFOV runs them
// (321 x 321 input). Not a test: run with ./run.sh bench or build/bin/bench_ops.
#include <benchmark/benchmark.h>

#include "core/rng.h"
#include "nn/conv.h"
#include "nn/pool.h"

namespace {

using namespace deeplab;
using namespace deeplab::nn;

// Runs one layer on an nChw16c input, as it runs inside the network (no layout conversion).
void run_layer(benchmark::State& state, std::unique_ptr<Layer> layer, const Shape& input, double flops) {
  Desc in_desc({input[0], input[1], input[2], input[3]}, memory::data_type::f32, memory::format_tag::nChw16c);
  Desc out_desc = layer->setup({in_desc}, Phase::test)[0];
  Blob x{"x", in_desc, make_memory(in_desc), {}, false};
  Blob y{"y", out_desc, make_memory(out_desc), {}, false};
  Tensor values(input);
  Rng rng(1);
  for (int64_t i = 0; i < values.numel(); ++i) values.data()[i] = rng.uniform(-1, 1);
  tensor_to_memory(values, x.data);
  memory workspace = make_memory(Desc({int64_t(layer->workspace_bytes() / 4 + 16)}, memory::data_type::f32,
                                      memory::format_tag::x));
  layer->set_workspace(workspace.get_data_handle());
  for (auto _ : state) layer->forward({&x}, {&y});
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Conv3x3(benchmark::State& state) {
  const int c = int(state.range(0)), hw = int(state.range(1)), dilation = int(state.range(2));
  const auto alg = state.range(3) ? ConvAlgorithm::winograd : ConvAlgorithm::direct;
  ConvSpec spec{c, c, 3, 1, dilation, dilation, true, true};
  run_layer(state, std::make_unique<Convolution>("conv", spec, alg), {1, c, hw, hw}, 2.0 * c * c * 9 * hw * hw);
}
// conv1_2, conv2_2, conv3_2, conv4_2, conv5_2 (dilation 2); Winograd on the undilated ones.
BENCHMARK(BM_Conv3x3)->Args({64, 321, 1, 0})->Args({128, 161, 1, 0})->Args({256, 81, 1, 0})->Args({256, 81, 1, 1})
    ->Args({512, 41, 1, 0})->Args({512, 41, 1, 1})->Args({512, 41, 2, 0})->Unit(benchmark::kMillisecond);

void BM_MaxPool(benchmark::State& state) {
  const int c = int(state.range(0)), hw = int(state.range(1)), stride = int(state.range(2));
  run_layer(state, std::make_unique<Pooling>("pool", PoolSpec{PoolKind::max, 3, stride, 1}), {1, c, hw, hw}, 0);
}
BENCHMARK(BM_MaxPool)->Args({64, 321, 2})->Args({512, 41, 1})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
