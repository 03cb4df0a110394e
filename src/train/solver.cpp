#include "train/solver.h"

#include <cmath>

#include "core/error.h"
#include "kernels/sgd_math.h"

namespace deeplab::train {

LrPolicy parse_lr_policy(const std::string& name) {
  if (name == "fixed") return LrPolicy::fixed;
  if (name == "step") return LrPolicy::step;
  if (name == "poly") return LrPolicy::poly;
  fail("solver.lr_policy: unknown policy '", name, "' (fixed, step or poly)");
}

const char* lr_policy_name(LrPolicy policy) {
  switch (policy) {
    case LrPolicy::fixed: return "fixed";
    case LrPolicy::step: return "step";
    case LrPolicy::poly: return "poly";
  }
  return "?";
}

nn::LossNormalization parse_loss_normalization(const std::string& name) {
  if (name == "per-image") return nn::LossNormalization::per_image;
  if (name == "per-pixel") return nn::LossNormalization::per_pixel;
  fail("solver.loss_normalization: unknown value '", name, "' (per-image or per-pixel)");
}

const char* loss_normalization_name(nn::LossNormalization norm) {
  return norm == nn::LossNormalization::per_pixel ? "per-pixel" : "per-image";
}

void validate(const SolverOptions& o) {
  if (!(o.base_lr > 0) || !std::isfinite(o.base_lr)) fail("solver.base_lr ", o.base_lr, " must be positive");
  if (!(o.momentum >= 0 && o.momentum < 1)) fail("solver.momentum ", o.momentum, " must be in [0, 1)");
  if (!(o.weight_decay >= 0)) fail("solver.weight_decay ", o.weight_decay, " must not be negative");
  if (o.lr_policy == LrPolicy::step && (o.stepsize < 1 || !(o.gamma > 0)))
    fail("solver: lr_policy step needs stepsize >= 1 and gamma > 0 (got ", o.stepsize, ", ", o.gamma, ")");
  if (o.lr_policy == LrPolicy::poly && !(o.power > 0)) fail("solver.power ", o.power, " must be positive");
  // 0 trains nothing: final.h5 is the starting point (a --init converted from a classifier).
  if (o.max_iter < 0) fail("solver.max_iter ", o.max_iter, " must not be negative");
  if (o.warmup < 0) fail("solver.warmup ", o.warmup, " must not be negative");
  if (o.batch < 1) fail("solver.batch ", o.batch, " must be at least 1");
  if (o.iter_size < 1) fail("solver.iter_size ", o.iter_size, " must be at least 1");
  if (o.snapshot < 0) fail("solver.snapshot ", o.snapshot, " must not be negative");
  if (o.snapshot_keep < 1) fail("solver.snapshot_keep ", o.snapshot_keep, " must be at least 1");
  if (o.display < 1) fail("solver.display ", o.display, " must be at least 1");
  if (o.loss_normalization == nn::LossNormalization::none) fail("solver.loss_normalization must be per-image or per-pixel");
}

void freeze_params(const std::vector<nn::Param*>& params, const std::vector<std::string>& prefixes) {
  for (const std::string& prefix : prefixes) {
    bool matched = false;
    for (nn::Param* p : params)
      if (p->name.rfind(prefix, 0) == 0) p->lr_mult = 0.0f, matched = true;
    if (!matched) {
      std::string names, last;  // a layer's parameters are adjacent: weight, bias
      for (nn::Param* p : params) {
        const std::string layer = p->name.substr(0, p->name.find('/'));
        if (layer != last) names += (names.empty() ? "" : ", ") + layer;
        last = layer;
      }
      fail("solver.freeze: '", prefix, "' names no layer of this network (its layers: ", names, ")");
    }
  }
  bool trainable = false;
  for (nn::Param* p : params) trainable |= p->lr_mult != 0.0f;
  if (!trainable) fail("solver.freeze holds every layer still: there is nothing left to train");
}

namespace {
double policy_rate(const SolverOptions& o, int64_t iteration) {
  switch (o.lr_policy) {
    case LrPolicy::fixed: return o.base_lr;
    case LrPolicy::step: return o.base_lr * std::pow(o.gamma, double(iteration / o.stepsize));
    case LrPolicy::poly: return o.base_lr * std::pow(1.0 - double(iteration) / double(o.max_iter), o.power);
  }
  return o.base_lr;
}
}  // namespace

double learning_rate(const SolverOptions& o, int64_t iteration) {
  const double rate = policy_rate(o, iteration);
  return iteration < o.warmup ? rate * double(iteration + 1) / double(o.warmup) : rate;
}

Sgd::Sgd(const SolverOptions& options, std::vector<nn::Param*> params) : options_(options) {
  validate(options);
  for (nn::Param* p : params) {
    if (p->lr_mult == 0.0f) continue;  // frozen
    params_.push_back(p);
    history_.emplace_back(p->value.shape());
    history_.back().fill(0.0f);
  }
}

void Sgd::update(int64_t iteration, double normaliser) {
  const double rate = learning_rate(options_, iteration);
  const float scale = float(1.0 / normaliser), momentum = float(options_.momentum);
  for (size_t i = 0; i < params_.size(); ++i) {
    nn::Param& p = *params_[i];
    const float lr = float(rate * p.lr_mult), decay = float(options_.weight_decay * p.decay_mult);
    float* w = p.value.data();
    const float* g = p.grad.data();
    float* v = history_[i].data();
    const int64_t n = p.value.numel();
#pragma omp parallel for simd
    for (int64_t k = 0; k < n; ++k) {
      kernels::sgd_step(w[k], v[k], g[k], scale, lr, decay, momentum);
    }
    ++p.version;
  }
}

}  // namespace deeplab::train
