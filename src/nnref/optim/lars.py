r"""LARS: layer-wise adaptive rate scaling (You, Gitman & Ginsburg, 2017). torch has no LARS."""

from __future__ import annotations

import torch
from torch import Tensor

from nnref.optim._common import ReferenceOptimizer, check_lr, check_nonnegative, scalar

__all__ = ["LARS"]


class LARS(ReferenceOptimizer):
    r"""LARS: SGD with momentum whose step is rescaled per parameter tensor ("layer").

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \theta_0 \text{ (params)}, \\
       &\hspace{13mm} f(\theta) \text{ (objective)},\ \eta \text{ (trust\_coefficient)}, \\
       &\hspace{13mm} \lambda \text{ (weight\_decay)},\ \mu \text{ (momentum)}, \\
       &\hspace{13mm} \epsilon \text{ (eps)},\ \textit{maximize} \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do}
           \quad\text{(for each parameter tensor } w\text{)} \\
       &\hspace{5mm} g_t \leftarrow \nabla_w f_t(w_{t-1})
           \quad (-\nabla_w f_t(w_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm} r_t \leftarrow \frac{\eta\,\|w_{t-1}\|}{\|g_t\| + \lambda\|w_{t-1}\|
           + \epsilon} \text{ if } \|w_{t-1}\| > 0 \text{ and } \|g_t\| > 0
           \textbf{ else } 1 \\
       &\hspace{5mm} d_t \leftarrow r_t\,(g_t + \lambda w_{t-1}) \\
       &\hspace{5mm} b_t \leftarrow d_t \text{ if } t = 1 \textbf{ else } \mu b_{t-1} + d_t \\
       &\hspace{5mm} w_t \leftarrow w_{t-1} - \gamma b_t \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ w_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    Norms are Euclidean norms over the whole tensor. The trust ratio makes the step of each
    layer proportional to the size of its weights (:math:`\|\Delta w\| \approx
    \gamma\eta\|w\|` without momentum), whatever the scale of its gradient, which is what lets
    very large batches train with one learning rate (You, Gitman & Ginsburg, 2017).

    torch has no LARS; the notes give the ratio :math:`\eta\|w\|/(\|g\| + \lambda\|w\|)`.
    Conventions chosen here:

    * **zero norms**: a tensor with :math:`\|w\| = 0` (zero-initialised biases) or
      :math:`\|g\| = 0` gets :math:`r = 1`, i.e. a plain SGD step; the formula would give
      :math:`r = 0` and freeze a zero-initialised tensor forever. For the same reason
      :math:`\eta` must be positive.
    * **momentum buffer** as torch's SGD: the first buffer is the first update and the
      learning rate stays outside it, so an LR scheduler acts at once; the notes' form
      :math:`v = \mu v + \gamma r (g + \lambda w)`, :math:`w \leftarrow w - v` is the same
      with a constant learning rate. State: ``momentum_buffer`` (4 bytes per float32
      parameter).
    * ``exclude_bias_and_norm=True`` skips the trust ratio **and** the weight decay for
      tensors with fewer than 2 dims (biases, batch-norm scales and shifts), which get a
      plain momentum-SGD step, as in the LARS set-ups of SimCLR and BYOL.

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): global learning rate :math:`\gamma` (default: 1.0: with
            the default :math:`\eta` a layer moves by about 0.1% of its norm per step).
        momentum (float, optional): momentum factor :math:`\mu \ge 0` (default: 0.9).
        weight_decay (float, optional): :math:`\lambda \ge 0` (default: 0).
        trust_coefficient (float, optional): :math:`\eta > 0` (default: 1e-3, the paper's).
        eps (float, optional): guards the ratio's denominator, :math:`\epsilon \ge 0`
            (default: 1e-8).
        exclude_bias_and_norm (bool, optional): see above (default: False).
        maximize (bool, optional): maximize the objective instead (default: False).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch's optimizers (default: None).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        >>> opt = LARS([w], lr=1.0, momentum=0.0, trust_coefficient=0.01, eps=0.0)
        >>> w.grad = torch.tensor([30.0, 40.0])
        >>> opt.step()
        >>> w.detach()  # r = 0.01 * 5 / 50: the step is 1% of |w|, whatever the size of g
        tensor([2.9700, 3.9600])
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1.0,
        momentum: float = 0.9,
        weight_decay: float = 0,
        trust_coefficient: float = 1e-3,
        eps: float = 1e-8,
        *,
        exclude_bias_and_norm: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_lr(lr)
        check_nonnegative(momentum, "momentum value", "momentum")
        check_nonnegative(weight_decay, "weight_decay value", "weight_decay")
        if not trust_coefficient > 0:  # r = 0 would never move the weights
            raise ValueError(f"Invalid trust_coefficient value: {trust_coefficient} "
                             "(trust_coefficient must be > 0)")
        check_nonnegative(eps, "epsilon value", "eps")
        defaults = {
            "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient, "eps": eps,
            "exclude_bias_and_norm": exclude_bias_and_norm, "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    @staticmethod
    def _trust_ratio(w_norm: Tensor, g_norm: Tensor, group) -> Tensor:
        """The ratio r of the class docstring, elementwise over stacked or 0-d norms; stays a
        tensor so that no device synchronisation is needed."""
        eta, wd, eps = group["trust_coefficient"], group["weight_decay"], group["eps"]
        ratio = eta * w_norm / (g_norm + wd * w_norm + eps)
        return torch.where((w_norm > 0) & (g_norm > 0), ratio, torch.ones_like(ratio))

    def _adapted(self, group, p: Tensor) -> bool:
        return not (group["exclude_bias_and_norm"] and p.dim() < 2)

    def _single_tensor(self, group, params, grads) -> None:
        lr, mu, wd = scalar(group["lr"]), group["momentum"], group["weight_decay"]
        for p, grad in zip(params, grads, strict=True):
            if group["maximize"]:
                grad = -grad
            if self._adapted(group, p):
                ratio = self._trust_ratio(torch.linalg.vector_norm(p),
                                          torch.linalg.vector_norm(grad), group)
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                grad = grad * ratio  # d_t = r_t (g_t + lambda w)
            if mu != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = grad.detach().clone()
                else:
                    buf.mul_(mu).add_(grad)  # b_t = mu b + d_t: the rate stays outside
                grad = buf
            p.add_(grad, alpha=-lr)

    def _multi_tensor(self, group, params, grads) -> None:
        lr, mu, wd = scalar(group["lr"]), group["momentum"], group["weight_decay"]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
        adapted = [i for i, p in enumerate(params) if self._adapted(group, p)]
        if adapted:
            a_params = [params[i] for i in adapted]
            a_grads = [grads[i] for i in adapted]
            ratios = self._trust_ratio(torch.stack(torch._foreach_norm(a_params)),
                                       torch.stack(torch._foreach_norm(a_grads)), group)
            if wd != 0:
                a_grads = torch._foreach_add(a_grads, a_params, alpha=wd)
            a_grads = torch._foreach_mul(a_grads, list(ratios.unbind()))
            grads = list(grads)
            for i, g in zip(adapted, a_grads, strict=True):
                grads[i] = g
        if mu != 0:
            states = [self.state[p] for p in params]
            bufs = [s.get("momentum_buffer") for s in states]
            if all(b is not None for b in bufs):
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, grads)
            else:
                for i, (s, g) in enumerate(zip(states, grads, strict=True)):
                    if bufs[i] is None:
                        bufs[i] = s["momentum_buffer"] = g.detach().clone()
                    else:
                        bufs[i].mul_(mu).add_(g)
            grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)
