#include "losses/perceptual_loss.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace nst {
namespace {

// Loss arithmetic stays in float32 even when the loss network runs under bf16 autocast: Gram
// matrices and squared differences lose too much in 8 mantissa bits.
struct NoAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{c10::autocast_dispatch_keyset};
};

torch::Tensor as_float(const torch::Tensor& x) { return x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat); }

std::string format_weight(double w) {
  std::ostringstream out;
  out << w;
  return out.str();
}

// Active layers of one term, after checking names and weights.
std::vector<std::string> active_layers(const LossNetwork& net, const std::map<std::string, double>& layers,
                                       double global_weight, const std::string& term) {
  if (!std::isfinite(global_weight) || global_weight < 0)
    throw std::runtime_error("loss." + term + ".weight must be >= 0, got " + format_weight(global_weight));
  std::vector<std::string> active;
  for (const auto& [layer, weight] : layers) {
    net->check_taps({layer});
    if (!std::isfinite(weight) || weight < 0)
      throw std::runtime_error("loss." + term + ".layers." + layer + " must be >= 0, got " + format_weight(weight));
    if (weight > 0 && global_weight > 0) active.push_back(layer);
  }
  return active;
}

void check_has_layers(const std::vector<std::string>& active, double global_weight, const std::string& term) {
  if (global_weight > 0 && active.empty())
    throw std::runtime_error("loss." + term + ".weight is " + format_weight(global_weight) + " but loss." + term +
                             ".layers has no layer with a weight > 0");
}

torch::Tensor as_batch(const torch::Tensor& image, const std::string& what) {
  if (image.dim() == 3) return image.unsqueeze(0);
  if (image.dim() == 4 && image.size(0) == 1) return image;
  std::ostringstream shape;
  shape << image.sizes();
  throw std::runtime_error(what + " must be [3,H,W] or [1,3,H,W], got " + shape.str());
}

// G = F F^T * scale for F [N, C, HW], with its own backward: dF = (dG + dG^T) F * scale, one batched
// product where autograd's bmm backward computes two (the float32 products of the Gram matrices were
// ~15% of a cpu_overnight step; docs/training.md, "Training speed").
class Gram : public torch::autograd::Function<Gram> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& f, double scale) {
    context->save_for_backward({f});
    context->saved_data["scale"] = scale;
    return torch::bmm(f, f.transpose(1, 2)).mul_(scale);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto f = context->get_saved_variables()[0];
    const auto& g = gradients[0];
    return {torch::bmm(g + g.transpose(1, 2), f).mul_(context->saved_data["scale"].toDouble()), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gram_matrix(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 4, "gram_matrix expects [N,C,H,W], got ", features.sizes());
  NoAutocast no_autocast;
  const auto n = features.size(0), c = features.size(1), hw = features.size(2) * features.size(3);
  return Gram::apply(as_float(features).reshape({n, c, hw}), 1.0 / static_cast<double>(c * hw));
}

torch::Tensor total_variation(const torch::Tensor& images) {
  TORCH_CHECK(images.dim() == 3 || images.dim() == 4, "total_variation expects [N,C,H,W] or [C,H,W], got ", images.sizes());
  TORCH_CHECK(images.size(-1) >= 2 && images.size(-2) >= 2, "total_variation needs at least 2x2 pixels, got ", images.sizes());
  NoAutocast no_autocast;
  const auto x = as_float(images) / 255.0;
  const auto h = x.size(-2), w = x.size(-1);
  const auto down = x.narrow(-2, 1, h - 1) - x.narrow(-2, 0, h - 1);
  const auto right = x.narrow(-1, 1, w - 1) - x.narrow(-1, 0, w - 1);
  return down.pow(2).mean() + right.pow(2).mean();
}

std::map<std::string, double> loss_values(const LossTerms& terms) {
  auto value = [](const torch::Tensor& t) { return t.defined() ? t.detach().to(torch::kCPU, torch::kFloat64).item<double>() : 0.0; };
  std::map<std::string, double> values{
      {"total", value(terms.total)}, {"content", value(terms.content)}, {"style", value(terms.style)}, {"tv", value(terms.tv)}};
  if (terms.temporal.defined()) values["temporal"] = value(terms.temporal);
  for (const auto& [layer, t] : terms.content_per_layer) values["content_" + layer] = value(t);
  for (const auto& [layer, t] : terms.style_per_layer) values["style_" + layer] = value(t);
  return values;
}

PerceptualLoss::PerceptualLoss(LossNetwork net, LossWeights weights) : net_(std::move(net)), weights_(std::move(weights)) {
  content_taps_ = active_layers(net_, weights_.content_layers, weights_.content_weight, "content");
  style_taps_ = active_layers(net_, weights_.style_layers, weights_.style_weight, "style");
  if (!std::isfinite(weights_.tv_weight) || weights_.tv_weight < 0)
    throw std::runtime_error("loss.tv.weight must be >= 0, got " + format_weight(weights_.tv_weight));
  if (content_taps_.empty() && style_taps_.empty() && weights_.tv_weight == 0)
    throw std::runtime_error("every loss weight is zero (loss.content.weight, loss.style.weight, loss.tv.weight and "
                             "their layers): nothing to optimize");
  check_has_layers(content_taps_, weights_.content_weight, "content");
  check_has_layers(style_taps_, weights_.style_weight, "style");
  taps_ = content_taps_;
  for (const auto& tap : style_taps_)
    if (std::find(taps_.begin(), taps_.end(), tap) == taps_.end()) taps_.push_back(tap);
}

void PerceptualLoss::set_style_targets(const std::vector<torch::Tensor>& style_images,
                                       const std::vector<double>& blend_weights) {
  if (style_images.empty()) throw std::runtime_error("no style image given");
  if (blend_weights.size() != style_images.size())
    throw std::runtime_error(std::to_string(style_images.size()) + " style images but " +
                             std::to_string(blend_weights.size()) + " style weights: give one weight per image");
  double sum = 0;
  for (size_t i = 0; i < blend_weights.size(); ++i) {
    if (!std::isfinite(blend_weights[i]) || blend_weights[i] <= 0)
      throw std::runtime_error("style weight " + std::to_string(i + 1) + " is " + format_weight(blend_weights[i]) +
                               ": style blend weights must be positive");
    sum += blend_weights[i];
  }
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> blended;
  for (size_t i = 0; i < style_images.size(); ++i) {
    const auto image = as_batch(style_images[i], "style image " + std::to_string(i + 1)).to(net_->device());
    const auto features = net_->forward(image, style_taps_);
    for (const auto& tap : style_taps_) {
      auto gram = gram_matrix(features.at(tap)) * (blend_weights[i] / sum);
      blended[tap] = blended.count(tap) ? blended[tap] + gram : gram;
    }
  }
  style_grams_ = std::move(blended);
  effective_style_weights_.clear();
  for (const auto& [tap, gram] : style_grams_) {
    double scale = 1.0;
    if (weights_.style_normalize == StyleNormalize::automatic) {
      const double mean_square = gram.pow(2).mean().item<double>();
      if (!(mean_square > 0 && std::isfinite(mean_square)))
        throw std::runtime_error("loss.style.normalize is auto but the style target of layer " + tap +
                                 " is all zero (a black style image?): give layer weights instead");
      scale = 1.0 / mean_square;
    }
    effective_style_weights_[tap] = weights_.style_layers.at(tap) * scale;
  }
}

std::map<std::string, torch::Tensor> PerceptualLoss::content_targets(const torch::Tensor& content) {
  torch::NoGradGuard no_grad;
  auto features = net_->forward(content.to(net_->device()), content_taps_);
  for (auto& [tap, f] : features) f = f.detach();
  return features;
}

LossTerms PerceptualLoss::compute(const torch::Tensor& output, const std::map<std::string, torch::Tensor>& targets) {
  if (!style_taps_.empty() && style_grams_.empty())
    throw std::runtime_error("style loss requested but no style targets set (call set_style_targets first)");
  const auto features = net_->forward(output, taps_);
  NoAutocast no_autocast;
  const auto zero = torch::zeros({}, output.options().dtype(torch::kFloat));
  LossTerms terms;
  terms.content = zero;
  for (const auto& tap : content_taps_) {
    const auto found = targets.find(tap);
    if (found == targets.end()) throw std::runtime_error("no content target for layer " + tap);
    const auto f = as_float(features.at(tap));
    auto target = as_float(found->second);
    if (target.size(0) == 1 && f.size(0) != 1 && target.sizes().slice(1) == f.sizes().slice(1)) target = target.expand_as(f);
    if (target.sizes() != f.sizes()) {
      std::ostringstream message;
      message << "content target for layer " << tap << " has shape " << target.sizes() << ", output features "
              << f.sizes() << " (content and output must have the same size)";
      throw std::runtime_error(message.str());
    }
    auto term = torch::mse_loss(f, target) * weights_.content_layers.at(tap);
    terms.content_per_layer[tap] = term;
    terms.content = terms.content + term;
  }
  terms.style = zero;
  for (const auto& tap : style_taps_) {
    const auto gram = gram_matrix(features.at(tap));
    auto term = torch::mse_loss(gram, style_grams_.at(tap).expand_as(gram)) * effective_style_weights_.at(tap);
    terms.style_per_layer[tap] = term;
    terms.style = terms.style + term;
  }
  terms.content = terms.content * weights_.content_weight;
  terms.style = terms.style * weights_.style_weight;
  terms.tv = weights_.tv_weight > 0 ? total_variation(output) * weights_.tv_weight : zero;
  terms.total = terms.content + terms.style + terms.tv;
  return terms;
}

}  // namespace nst
