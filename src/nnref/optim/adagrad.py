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
    r"""AdaGrad (Duchi et al., 2011).

    .. math::
        \begin{aligned}
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        \tilde\gamma_t &\leftarrow \gamma / (1 + (t - 1)\eta) \\
        G_t &\leftarrow G_{t-1} + g_t^2, \qquad G_0 = \text{initial\_accumulator\_value} \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma_t \, \frac{g_t}{\sqrt{G_t} + \epsilon}
        \end{aligned}

    with learning-rate decay :math:`\eta` and weight decay :math:`\lambda`. The effective step
    of a coordinate, :math:`\tilde\gamma_t/\sqrt{G_t}`, only shrinks: coordinates with large
    past gradients slow down for good (the notes' ``G += g^2; w -= a g / (sqrt(G) + eps)``).
    The accumulator lives in ``state["sum"]``, created with the optimizer as torch does, and
    starts at the constructor's ``initial_accumulator_value`` in every param group (like
    torch, a per-group value is ignored).

    Sparse gradients (``nn.Embedding(sparse=True)``) are supported without weight decay: only
    the rows present in the gradient are updated.

    Args:
        params (iterable): parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-2).
        lr_decay (float, optional): learning-rate decay :math:`\eta \ge 0` (default: 0).
        weight_decay (float, optional): L2 penalty :math:`\lambda \ge 0` (default: 0).
        initial_accumulator_value (float, optional): :math:`G_0 \ge 0` (default: 0).
        eps (float, optional): added to the denominator, :math:`\epsilon \ge 0`
            (default: 1e-10).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch (default: None).
        maximize (bool, optional): maximize the objective instead (default: False).
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
            clr = lr / (1 + (step - 1) * lr_decay)
            if grad.is_sparse:
                # the update is non-linear in g, so repeated indices must be summed first
                grad = grad.coalesce()
                indices, values = grad._indices(), grad._values()
                state_sum.add_(make_sparse(grad, indices, values.pow(2)))
                std_values = state_sum.sparse_mask(grad)._values().sqrt_().add_(eps)
                p.add_(make_sparse(grad, indices, values / std_values), alpha=-clr)
            else:
                state_sum.addcmul_(grad, grad, value=1)
                std = state_sum.sqrt().add_(eps)
                p.addcdiv_(grad, std, value=-clr)

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
