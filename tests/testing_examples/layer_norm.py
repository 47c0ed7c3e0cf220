"""Layer normalization over the last dims, ``(x - mean) / sqrt(var + eps) * weight + bias``,
as a Function with its backward and a Module with ``torch.nn.LayerNorm``'s constructor."""

import numbers

import torch


def _opmath(x):
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _LayerNorm(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, dims, eps):
        xhat = _normalized(_opmath(x), dims, eps)[0]
        y = xhat if weight is None else xhat * _opmath(weight)
        return (y if bias is None else y + _opmath(bias)).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, dims, eps = inputs
        # x, not x-hat: backward recomputes x-hat with autograd recording (double backward)
        ctx.save_for_backward(x, weight)
        ctx.dims, ctx.eps, ctx.has_bias = dims, eps, bias is not None

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        dims = ctx.dims
        xhat, rstd = _normalized(_opmath(x), dims, ctx.eps)
        gf = _opmath(grad)
        g = gf if weight is None else gf * _opmath(weight)
        gx = rstd * (g - g.mean(dims, keepdim=True)
                     - xhat * (g * xhat).mean(dims, keepdim=True))
        lead = tuple(range(grad.dim() - len(dims)))

        def total(t):
            return t.sum(lead) if lead else t
        gw = None if weight is None else total(gf * xhat).to(weight.dtype)
        gb = total(gf).to(grad.dtype) if ctx.has_bias else None
        return gx.to(grad.dtype), gw, gb, None, None


def _normalized(x, dims, eps):
    xc = x - x.mean(dims, keepdim=True)
    rstd = torch.rsqrt((xc * xc).mean(dims, keepdim=True) + eps)
    return xc * rstd, rstd


class LayerNorm(torch.nn.Module):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        kw = {"device": device, "dtype": dtype}
        self.weight = torch.nn.Parameter(torch.ones(self.normalized_shape, **kw)) \
            if elementwise_affine else None
        self.bias = torch.nn.Parameter(torch.zeros(self.normalized_shape, **kw)) \
            if elementwise_affine and bias else None

    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        return _LayerNorm.apply(x, self.weight, self.bias, dims, self.eps)

    def extra_repr(self):
        bias = self.bias is not None or not self.elementwise_affine
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={bias}")


class LayerNormWrongEps(LayerNorm):
    """Broken: a default eps of 1e-6 (TensorFlow's habit) instead of torch's 1e-5."""

    def __init__(self, normalized_shape, eps=1e-6, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__(normalized_shape, eps, elementwise_affine, bias, device, dtype)


class _LayerNormFlat(_LayerNorm):
    """Broken: flattens with ``view``, which assumes a contiguous input."""

    @staticmethod
    def forward(x, weight, bias, dims, eps):
        n = weight.numel()
        flat = _LayerNorm.forward(x.view(-1, n), weight.view(n), bias.view(n), (-1,), eps)
        return flat.view(x.shape)


class LayerNormContiguous(LayerNorm):
    def forward(self, x):
        dims = tuple(range(-len(self.normalized_shape), 0))
        return _LayerNormFlat.apply(x, self.weight, self.bias, dims, self.eps)
