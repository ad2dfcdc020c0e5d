#include "nets/border_pad.h"

namespace nst {

namespace {

// The border of width `pad` on one side of dimension `dim`, as copied from x: mirrored rows next to
// the edge (reflect) or the edge row repeated (replicate).
torch::Tensor border(const torch::Tensor& x, int64_t dim, int64_t pad, bool far_side, bool replicate) {
  const int64_t n = x.size(dim);
  if (replicate) {
    auto sizes = x.sizes().vec();
    sizes[c10::maybe_wrap_dim(dim, x.dim())] = pad;
    return x.narrow(dim, far_side ? n - 1 : 0, 1).expand(sizes);
  }
  return x.narrow(dim, far_side ? n - 1 - pad : 1, pad).flip(dim);
}

// The padded tensor written once: the interior, the left and right borders, then the top and bottom
// rows from the padded rows (so the corners come with them).
torch::Tensor pad_values(const torch::Tensor& x, int64_t pad, bool replicate) {
  const int64_t h = x.size(-2), w = x.size(-1);
  auto sizes = x.sizes().vec();
  sizes[sizes.size() - 2] += 2 * pad;
  sizes.back() += 2 * pad;
  auto out = torch::empty(sizes, x.options().memory_format(x.suggest_memory_format()));
  auto middle = out.narrow(-2, pad, h);
  middle.narrow(-1, pad, w).copy_(x);
  middle.narrow(-1, 0, pad).copy_(border(x, -1, pad, false, replicate));
  middle.narrow(-1, pad + w, pad).copy_(border(x, -1, pad, true, replicate));
  out.narrow(-2, 0, pad).copy_(border(middle, -2, pad, false, replicate));
  out.narrow(-2, pad + h, pad).copy_(border(middle, -2, pad, true, replicate));
  return out;
}

// Adds the gradient of a border (width pad, along dim) back onto the rows it was copied from.
void fold_border(torch::Tensor& target, const torch::Tensor& gradient, int64_t dim, int64_t pad, bool far_side,
                 bool replicate) {
  const int64_t n = target.size(dim);
  if (replicate) target.narrow(dim, far_side ? n - 1 : 0, 1).add_(gradient.sum(dim, /*keepdim=*/true));
  else target.narrow(dim, far_side ? n - 1 - pad : 1, pad).add_(gradient.flip(dim));
}

// Autograd through narrow/flip/cat instead allocates a zero tensor per piece and adds them: in
// training that cost more than the forward pad itself.
class BorderPad : public torch::autograd::Function<BorderPad> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x, int64_t pad,
                               bool replicate) {
    context->saved_data["pad"] = pad;
    context->saved_data["replicate"] = replicate;
    return pad_values(x, pad, replicate);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list gradients) {
    const int64_t pad = context->saved_data["pad"].toInt();
    const bool replicate = context->saved_data["replicate"].toBool();
    const torch::Tensor& padded = gradients[0];
    const int64_t h = padded.size(-2) - 2 * pad, w = padded.size(-1) - 2 * pad;
    auto fold_columns = [&](const torch::Tensor& rows) {  // [..., r, w + 2 pad] -> [..., r, w]
      auto inner = rows.narrow(-1, pad, w).clone();
      fold_border(inner, rows.narrow(-1, 0, pad), -1, pad, false, replicate);
      fold_border(inner, rows.narrow(-1, pad + w, pad), -1, pad, true, replicate);
      return inner;
    };
    // One clone of the interior; the top and bottom rows (corners folded first) are small.
    auto x = fold_columns(padded.narrow(-2, pad, h));
    fold_border(x, fold_columns(padded.narrow(-2, 0, pad)), -2, pad, false, replicate);
    fold_border(x, fold_columns(padded.narrow(-2, pad + h, pad)), -2, pad, true, replicate);
    return {x, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor reflection_pad(const torch::Tensor& x, int64_t pad) {
  if (pad == 0) return x;
  const int64_t h = x.size(-2), w = x.size(-1);
  TORCH_CHECK(pad < h && pad < w, "reflection pad ", pad, " needs an input larger than ", h, "x", w);
  return BorderPad::apply(x, pad, false);
}

torch::Tensor replication_pad(const torch::Tensor& x, int64_t pad) {
  if (pad == 0) return x;
  TORCH_CHECK(x.size(-2) > 0 && x.size(-1) > 0, "replication pad needs a non-empty input");
  return BorderPad::apply(x, pad, true);
}

}  // namespace nst
