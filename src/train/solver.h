// Caffe's SGD solver, as the DeepLab release trains with it:
//   g  = grad / normaliser + weight_decay x decay_mult x w
//   v <- momentum x v + lr(iteration) x lr_mult x g
//   w <- w - v
// with the per-parameter multipliers set by the model (biases learn 2x without decay, the
// classifier 10x). The normaliser is the loss's divisor over the whole global batch (images, or
// labelled pixels), so the update does not depend on how the batch is split across ranks and
// accumulation steps.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/layer.h"
#include "nn/softmax.h"

namespace deeplab::train {

enum class LrPolicy { fixed, step, poly };
LrPolicy parse_lr_policy(const std::string& name);  // "fixed", "step", "poly"
const char* lr_policy_name(LrPolicy policy);
nn::LossNormalization parse_loss_normalization(const std::string& name);  // "per-image", "per-pixel"
const char* loss_normalization_name(nn::LossNormalization norm);

struct SolverOptions {
  double base_lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  LrPolicy lr_policy = LrPolicy::step;
  int64_t stepsize = 2000;  // step: lr x gamma every stepsize iterations
  double gamma = 0.1;
  double power = 0.9;       // poly: lr x (1 - iteration / max_iter)^power
  // The first warmup iterations ramp the rate linearly up to the policy's (Goyal et al. 2017):
  // a plain 16-layer network from scratch diverges at a rate it trains well at once it is going.
  int64_t warmup = 0;
  int64_t max_iter = 6000;
  int batch = 20;           // images per rank per forward pass
  int iter_size = 1;        // forward/backward passes accumulated per update
  int64_t snapshot = 1000;  // checkpoint every this many iterations (0: only at the end and on signals)
  int snapshot_keep = 3;    // checkpoints kept in the output folder
  int64_t display = 20;     // iterations per log line
  uint64_t seed = 1;        // initial weights, data order, augmentation, dropout
  // Caffe's SoftmaxWithLoss with an ignore label divides by the labelled pixels (normalize:
  // true, its default); the recipe's lr 1e-3 is for that scale.
  nn::LossNormalization loss_normalization = nn::LossNormalization::per_pixel;
  // Layers held still (their parameters' lr_mult set to 0), by name prefix: "conv,fc6,fc7" trains
  // only what a model adds to a trained LargeFOV (the MSc heads and fc8, as the paper did).
  std::vector<std::string> freeze;
};

// Checks ranges; names the offending key ("solver.base_lr ...").
void validate(const SolverOptions& options);
double learning_rate(const SolverOptions& options, int64_t iteration);
// Sets lr_mult to 0 on the parameters whose names start with one of the prefixes (before the
// network is first run: it then computes no gradient for them, nor for what only they need).
// A prefix that matches nothing, or freezing everything, is an error naming the layers.
void freeze_params(const std::vector<nn::Param*>& params, const std::vector<std::string>& prefixes);

class Sgd {
 public:
  Sgd(const SolverOptions& options, std::vector<nn::Param*> params);
  // One update from the summed gradients; normaliser divides them (see above).
  void update(int64_t iteration, double normaliser);
  // The momentum buffer of each trainable parameter, in params() order, for checkpoints.
  const std::vector<nn::Param*>& params() const { return params_; }
  std::vector<Tensor>& history() { return history_; }

 private:
  SolverOptions options_;
  std::vector<nn::Param*> params_;  // trainable ones (lr_mult != 0)
  std::vector<Tensor> history_;
};

}  // namespace deeplab::train
