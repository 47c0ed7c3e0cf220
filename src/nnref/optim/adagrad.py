r"""AdaGrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nnref.optim._common import (
    ReferenceOptimizer,
    check_lr,
    check_nonnegative,
    check_unclaimed,
    increment_steps,
    make_sparse,
    new_step,
    scalar,
    step_value,
)

__all__ = ["Adagrad"]


class Adagrad(ReferenceOptimizer):
    r"""AdaGrad (Duchi et al., 2011): per-coordinate learning rates from the summed squares.

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \theta_0 \text{ (params)}, \\
       &\hspace{13mm} f(\theta) \text{ (objective)},\ \lambda \text{ (weight\_decay)}, \\
       &\hspace{13mm} \eta \text{ (lr\_decay)},\ \tau \text{ (initial\_accumulator\_value)}, \\
       &\hspace{13mm} \epsilon \text{ (eps)},\ \textit{maximize} \\
       &\textbf{initialize}: G_0 \leftarrow \tau \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do} \\
       &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
           \quad (-\nabla_\theta f_t(\theta_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm}\textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &\hspace{5mm}\tilde\gamma \leftarrow \gamma / (1 + (t - 1)\,\eta) \\
       &\hspace{5mm} G_t \leftarrow G_{t-1} + g_t^2 \\
       &\hspace{5mm}\theta_t \leftarrow \theta_{t-1} - \tilde\gamma\,
           \frac{g_t}{\sqrt{G_t} + \epsilon} \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ \theta_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    The effective step of a coordinate, :math:`\tilde\gamma/\sqrt{G_t}`, only shrinks:
    coordinates with large past gradients slow down for good. This is the notes'
    :math:`G \mathrel{+}= g^2,\ w \mathrel{-}= \alpha g/(\sqrt G + \epsilon)`; torch adds the
    learning-rate decay :math:`\eta` and the starting value :math:`\tau` (both 0 by default).
    The accumulator lives in ``state["sum"]`` (4 bytes per float32 parameter), created with
    the optimizer as torch does, and starts at the constructor's ``initial_accumulator_value``
    in every param group (like torch, a per-group value is ignored).

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported without weight decay: only
    the rows present in the gradient are updated.

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-2).
        lr_decay (float, optional): learning-rate decay :math:`\eta \ge 0` (default: 0).
        weight_decay (float, optional): L2 penalty :math:`\lambda \ge 0` (default: 0).
        initial_accumulator_value (float, optional): :math:`\tau \ge 0` (default: 0).
        eps (float, optional): added to the denominator, :math:`\epsilon \ge 0`
            (default: 1e-10).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch (default: None).
        maximize (bool, optional): maximize the objective instead (default: False).
        differentiable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        fused (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: None).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adagrad([w], lr=0.1)
        >>> w.grad = torch.tensor([0.5, -3.0])
        >>> opt.step()
        >>> opt.state[w]["sum"]  # G_1 = g^2
        tensor([0.2500, 9.0000])
        >>> w.detach()  # g / sqrt(g^2): the first step is lr against the sign
        tensor([ 0.9000, -1.9000])
    """

    supports_sparse = True

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_unclaimed("Adagrad", differentiable=differentiable, fused=fused)
        check_lr(lr)
        check_nonnegative(lr_decay, "lr_decay value", "lr_decay")
        check_nonnegative(weight_decay, "weight_decay value", "weight_decay")
        check_nonnegative(initial_accumulator_value, "initial_accumulator_value value",
                          "initial_accumulator_value")
        check_nonnegative(eps, "epsilon value", "eps")
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p: Tensor) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            # torch reads the constructor's value, never the group's: kept for parity
            state["sum"] = torch.full_like(p, self.defaults["initial_accumulator_value"],
                                           memory_format=torch.preserve_format)
        return state

    def _single_tensor(self, group, params, grads) -> None:
        lr, lr_decay = scalar(group["lr"]), group["lr_decay"]
        wd, eps = group["weight_decay"], group["eps"]
        for p, grad in zip(params, grads, strict=True):
            state = self._init_state(p)
            step_t, state_sum = state["step"], state["sum"]
            step_t += 1
            step = step_value(step_t)
            if group["maximize"]:
                grad = -grad
            if wd != 0:
                if grad.is_sparse:
                    raise RuntimeError(
                        "weight_decay option is not compatible with sparse gradients"
                    )
                grad = grad.add(p, alpha=wd)
            clr = lr / (1 + (step - 1) * lr_decay)  # the decayed rate gamma~
            if grad.is_sparse:
                # the update is non-linear in g, so repeated indices must be summed first
                grad = grad.coalesce()
                indices, values = grad._indices(), grad._values()
                state_sum.add_(make_sparse(grad, indices, values.pow(2)))
                std_values = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
                p.add_(make_sparse(grad, indices, values / std_values), alpha=-clr)
            else:
                state_sum.addcmul_(grad, grad, value=1)  # G_t = G + g_t^2
                std = state_sum.sqrt().add_(eps)
                p.addcdiv_(grad, std, value=-clr)  # theta_t = theta - gamma~ g_t / (sqrt G_t + eps)

    def _multi_tensor(self, group, params, grads) -> None:
        lr, lr_decay = scalar(group["lr"]), group["lr_decay"]
        wd, eps = group["weight_decay"], group["eps"]
        states = [self._init_state(p) for p in params]
        sums = [s["sum"] for s in states]
        steps = [s["step"] for s in states]
        owned = False  # whether ``grads`` are temporaries we may overwrite (never p.grad)
        if group["maximize"]:
            grads, owned = torch._foreach_neg(grads), True
        increment_steps(steps)
        if wd != 0:
            if owned:
                torch._foreach_add_(grads, params, alpha=wd)
            else:
                grads, owned = torch._foreach_add(grads, params, alpha=wd), True
        minus_clr = [-lr / (1 + (step_value(s) - 1) * lr_decay) for s in steps]
        torch._foreach_addcmul_(sums, grads, grads, value=1)
        std = torch._foreach_sqrt(sums)
        torch._foreach_add_(std, eps)
        # torch scales the gradient by -clr before dividing (not the quotient after): the same
        # order keeps the two bit-for-bit equal
        if owned:
            torch._foreach_mul_(grads, minus_clr)
        else:
            grads = torch._foreach_mul(grads, minus_clr)
        torch._foreach_addcdiv_(params, grads, std)
