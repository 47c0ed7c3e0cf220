r"""RMSProp: divide the gradient by a moving root-mean-square of recent gradients."""

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
    new_step,
    scalar,
)

__all__ = ["RMSprop"]


class RMSprop(ReferenceOptimizer):
    r"""RMSProp (Hinton's lecture 6e): divide by a moving root-mean-square of the gradients.

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \alpha \text{ (alpha)},\ \theta_0 \text{ (params)}, \\
       &\hspace{13mm} f(\theta) \text{ (objective)},\ \lambda \text{ (weight\_decay)}, \\
       &\hspace{13mm} \mu \text{ (momentum)},\ \epsilon \text{ (eps)},\ \textit{centered}, \\
       &\hspace{13mm} \textit{maximize} \\
       &\textbf{initialize}: v_0 \leftarrow 0 \text{ (square average)},
           \ \bar g_0 \leftarrow 0,\ b_0 \leftarrow 0 \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do} \\
       &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
           \quad (-\nabla_\theta f_t(\theta_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm}\textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &\hspace{5mm} v_t \leftarrow \alpha v_{t-1} + (1 - \alpha)\, g_t^2 \\
       &\hspace{5mm}\tilde v_t \leftarrow v_t \\
       &\hspace{5mm}\textbf{if}\ \textit{centered}:\ \bar g_t \leftarrow \alpha \bar g_{t-1}
           + (1 - \alpha)\, g_t,\ \tilde v_t \leftarrow \tilde v_t - \bar g_t^2 \\
       &\hspace{5mm}\textbf{if}\ \mu > 0:\ b_t \leftarrow \mu b_{t-1}
           + g_t / (\sqrt{\tilde v_t} + \epsilon),
           \ \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
       &\hspace{5mm}\textbf{else}:\ \theta_t \leftarrow \theta_{t-1}
           - \gamma\, g_t / (\sqrt{\tilde v_t} + \epsilon) \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ \theta_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    Unlike AdaGrad's sum, the average forgets: the step size recovers when gradients shrink.
    The lecture notes write :math:`w \leftarrow w - \alpha g / \sqrt{E + \epsilon}`, with
    :math:`\epsilon` **inside** the root; torch (and this class by default) adds it outside.
    ``eps_inside_sqrt=True`` gives the notes' form: the floor on the denominator is then
    :math:`\sqrt\epsilon` (1e-4 for the default 1e-8) instead of :math:`\epsilon`, so the two
    differ only where :math:`v_t \lesssim \epsilon`.

    State keys are torch's: ``step``, ``square_avg`` (:math:`v`, 4 bytes per float32
    parameter), ``grad_avg`` (:math:`\bar g`, centered only) and ``momentum_buffer``
    (:math:`b`, momentum only).

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-2).
        alpha (float, optional): smoothing constant :math:`\alpha \ge 0` (default: 0.99).
        eps (float, optional): added to the denominator, :math:`\epsilon \ge 0`
            (default: 1e-8).
        weight_decay (float, optional): L2 penalty :math:`\lambda \ge 0` (default: 0).
        momentum (float, optional): momentum factor :math:`\mu \ge 0` (default: 0).
        centered (bool, optional): normalise by the estimated variance of the gradient
            instead of its second moment (default: False).
        capturable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch (default: None).
        maximize (bool, optional): maximize the objective instead (default: False).
        differentiable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        eps_inside_sqrt (bool, optional): the notes' :math:`\sqrt{v + \epsilon}`
            (default: False).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = RMSprop([w], lr=0.01)
        >>> w.grad = torch.tensor([0.5, -3.0])
        >>> opt.step()
        >>> opt.state[w]["square_avg"]  # (1 - alpha) g^2
        tensor([0.0025, 0.0900])
        >>> w.detach()  # g / sqrt(0.01 g^2) = 10 sign(g): a first step of 10 lr
        tensor([ 0.9000, -1.9000])
    """

    extra_defaults = {"eps_inside_sqrt": False}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        eps_inside_sqrt: bool = False,
    ) -> None:
        check_unclaimed("RMSprop", capturable=capturable, differentiable=differentiable)
        check_lr(lr)
        check_nonnegative(eps, "epsilon value", "eps")
        check_nonnegative(momentum, "momentum value", "momentum")
        check_nonnegative(weight_decay, "weight_decay value", "weight_decay")
        check_nonnegative(alpha, "alpha value", "alpha")
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "foreach": foreach, "maximize": maximize,
            "eps_inside_sqrt": eps_inside_sqrt,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["momentum"] > 0:
                state["momentum_buffer"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _single_tensor(self, group, params, grads) -> None:
        lr, alpha, eps = scalar(group["lr"]), group["alpha"], group["eps"]
        wd, mu, inside = group["weight_decay"], group["momentum"], group["eps_inside_sqrt"]
        for p, grad in zip(params, grads, strict=True):
            state = self._init_state(p, group)
            if group["maximize"]:
                grad = -grad
            state["step"] += 1
            if wd != 0:
                grad = grad.add(p, alpha=wd)
            square_avg = state["square_avg"]
            square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)  # v_t
            if group["centered"]:
                grad_avg = state["grad_avg"]
                grad_avg.lerp_(grad, 1 - alpha)  # g-bar_t, a lerp as torch rounds it
                var = square_avg.addcmul(grad_avg, grad_avg, value=-1)  # v_t - g-bar_t^2
                avg = var.add_(eps).sqrt_() if inside else var.sqrt_().add_(eps)
            else:
                avg = square_avg.add(eps).sqrt_() if inside else square_avg.sqrt().add_(eps)
            if mu > 0:
                buf = state["momentum_buffer"]
                buf.mul_(mu).addcdiv_(grad, avg)  # b_t = mu b + g_t / (sqrt(v~_t) + eps)
                p.add_(buf, alpha=-lr)
            else:
                p.addcdiv_(grad, avg, value=-lr)

    def _multi_tensor(self, group, params, grads) -> None:
        lr, alpha, eps = scalar(group["lr"]), group["alpha"], group["eps"]
        wd, mu, inside = group["weight_decay"], group["momentum"], group["eps_inside_sqrt"]
        states = [self._init_state(p, group) for p in params]
        square_avgs = [s["square_avg"] for s in states]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
            if wd != 0:
                torch._foreach_add_(grads, params, alpha=wd)
        elif wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        increment_steps([s["step"] for s in states])
        torch._foreach_mul_(square_avgs, alpha)
        torch._foreach_addcmul_(square_avgs, grads, grads, value=1 - alpha)
        if group["centered"]:
            grad_avgs = [s["grad_avg"] for s in states]
            torch._foreach_lerp_(grad_avgs, grads, 1 - alpha)
            avg = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
            if inside:
                torch._foreach_add_(avg, eps)
                torch._foreach_sqrt_(avg)
            else:
                torch._foreach_sqrt_(avg)
                torch._foreach_add_(avg, eps)
        elif inside:
            avg = torch._foreach_add(square_avgs, eps)
            torch._foreach_sqrt_(avg)
        else:
            avg = torch._foreach_sqrt(square_avgs)
            torch._foreach_add_(avg, eps)
        if mu > 0:
            bufs = [s["momentum_buffer"] for s in states]
            torch._foreach_mul_(bufs, mu)
            torch._foreach_addcdiv_(bufs, grads, avg)
            torch._foreach_add_(params, bufs, alpha=-lr)
        else:
            torch._foreach_addcdiv_(params, grads, avg, value=-lr)
