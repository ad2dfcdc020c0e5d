#include "nets/max_pool.h"

namespace nst {

namespace {

class ChannelsLastMaxPool : public torch::autograd::Function<ChannelsLastMaxPool> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x, int64_t kernel,
                               int64_t stride, bool ceil_mode) {
    auto [pooled, indices] = at::max_pool2d_with_indices(x.contiguous(torch::MemoryFormat::ChannelsLast), {kernel},
                                                          {stride}, {0}, {1}, ceil_mode);
    indices = indices.contiguous();
    context->save_for_backward({x, indices});
    context->saved_data["kernel"] = kernel;
    context->saved_data["stride"] = stride;
    context->saved_data["ceil_mode"] = ceil_mode;
    return pooled.contiguous();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const auto saved = context->get_saved_variables();
    const int64_t kernel = context->saved_data["kernel"].toInt(), stride = context->saved_data["stride"].toInt();
    auto input_gradient = at::max_pool2d_with_indices_backward(gradients[0].contiguous(), saved[0], {kernel}, {stride}, {0},
                                                               {1}, context->saved_data["ceil_mode"].toBool(), saved[1]);
    return {input_gradient, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor MaxPoolImpl::forward(const torch::Tensor& x) {
  const bool nchw = x.dim() == 4 && x.is_contiguous();
  if (!x.is_cpu() || !nchw) return at::max_pool2d(x, {kernel_}, {stride_}, {0}, {1}, ceil_mode_);
  if (!torch::GradMode::is_enabled() || !x.requires_grad())
    return at::max_pool2d(x.contiguous(torch::MemoryFormat::ChannelsLast), {kernel_}, {stride_}, {0}, {1}, ceil_mode_)
        .contiguous();
  return ChannelsLastMaxPool::apply(x, kernel_, stride_, ceil_mode_);
}

}  // namespace nst
