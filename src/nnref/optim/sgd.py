r"""Stochastic gradient descent: plain, with (heavy-ball) momentum, and with Nesterov momentum.

Batch, stochastic and mini-batch gradient descent of the notes are this same rule; they differ
only in how many samples the gradient is averaged over (the data loader's batch size).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from nnref.optim._common import (
    ReferenceOptimizer,
    check_lr,
    check_nonnegative,
    check_unclaimed,
    scalar,
)

__all__ = ["SGD"]


class SGD(ReferenceOptimizer):
    r"""Stochastic gradient descent, optionally with momentum (torch's form or the notes').

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \theta_0 \text{ (params)}, \\
       &\hspace{13mm} f(\theta) \text{ (objective)},\ \lambda \text{ (weight\_decay)}, \\
       &\hspace{13mm} \mu \text{ (momentum)},\ \tau \text{ (dampening)}, \\
       &\hspace{13mm} \textit{nesterov},\ \textit{maximize} \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do} \\
       &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
           \quad (-\nabla_\theta f_t(\theta_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm}\textbf{if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &\hspace{5mm}\textbf{if}\ \mu \ne 0: \\
       &\hspace{10mm} b_t \leftarrow g_t \text{ if } t = 1
           \textbf{ else } \mu b_{t-1} + (1 - \tau)\, g_t \\
       &\hspace{10mm} g_t \leftarrow g_t + \mu b_t \text{ if } \textit{nesterov}
           \textbf{ else } b_t \\
       &\hspace{5mm}\theta_t \leftarrow \theta_{t-1} - \gamma g_t \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ \theta_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    With ``momentum=0`` this is the notes' :math:`w \leftarrow w - \eta g`; batch, stochastic
    and mini-batch gradient descent differ only in the data loader's batch size. Weight decay
    is the gradient of the L2 penalty :math:`\tfrac{\lambda}{2}\|\theta\|^2`.

    Where the lecture notes differ, their forms are options of this class:

    * ``ema=True``, the notes' **exponential-moving-average momentum**
      :math:`V_t = \mu V_{t-1} + (1 - \mu) g_t`, :math:`V_0 = 0`,
      :math:`\theta_t = \theta_{t-1} - \gamma V_t`. torch's buffer starts at :math:`b_1 = g_1`
      and is undamped, so :math:`V_t = (1 - \mu) b_t` exactly: ``ema=True`` with learning rate
      :math:`\gamma` traces torch's momentum with :math:`\gamma (1 - \mu)`; with a learning-rate
      schedule the two still agree, since neither buffer contains the learning rate.
    * ``lookahead=True``, the notes' **look-ahead Nesterov** (Sutskever et al., 2013): the
      gradient is taken at the look-ahead point :math:`w - \mu v`, so ``step()`` needs a
      ``closure`` and calls it there,

      .. math::
          v_t = \mu v_{t-1} + \gamma \nabla f(w_{t-1} - \mu v_{t-1}), \qquad
          w_t = w_{t-1} - v_t, \qquad v_0 = 0 .

      ``state["momentum_buffer"]`` then holds :math:`v` (which includes the learning rate);
      look-ahead groups always take the single-tensor loop. torch's ``nesterov=True`` is the
      same algorithm re-parametrised on the look-ahead point :math:`\phi = w - \mu v`: with a
      constant :math:`\gamma` the points :math:`\phi_t` equal torch's parameters at every step
      (:math:`v = \gamma b`).

    State: ``momentum_buffer`` (:math:`b`) when :math:`\mu \ne 0`, 4 bytes per float32
    parameter; none for plain SGD.

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-3).
        momentum (float, optional): momentum factor :math:`\mu \ge 0` (default: 0).
        dampening (float, optional): dampening :math:`\tau` for momentum (default: 0).
        weight_decay (float, optional): L2 penalty :math:`\lambda \ge 0` (default: 0).
        nesterov (bool, optional): torch's Nesterov momentum; needs ``momentum > 0`` and zero
            dampening (default: False).
        maximize (bool, optional): maximize the objective instead (default: False).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` picks it on
            devices with foreach kernels, like torch (default: None). As in torch, the foreach
            Nesterov step leaves the Nesterov direction in ``p.grad``.
        differentiable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        fused (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: None).
        ema (bool, optional): the notes' moving-average momentum, see above (default: False).
        lookahead (bool, optional): the notes' look-ahead Nesterov, see above (default: False).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = SGD([w], lr=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     w.grad = torch.tensor([0.5, -3.0])
        ...     opt.step()
        >>> opt.state[w]["momentum_buffer"]  # b_1 = g, b_2 = 0.9 g + g
        tensor([ 0.9500, -5.7000])
        >>> w.detach()  # w - 0.1 (b_1 + b_2)
        tensor([ 0.8550, -1.1300])
    """

    supports_sparse = True
    extra_defaults = {"ema": False, "lookahead": False}

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
        ema: bool = False,
        lookahead: bool = False,
    ) -> None:
        check_unclaimed("SGD", differentiable=differentiable, fused=fused)
        check_lr(lr)
        check_nonnegative(momentum, "momentum value", "momentum")
        check_nonnegative(weight_decay, "weight_decay value", "weight_decay")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        for flag, on in (("ema", ema), ("lookahead", lookahead)):
            if on and (momentum <= 0 or dampening != 0 or nesterov):
                raise ValueError(
                    f"{flag}=True requires momentum > 0, dampening=0 and nesterov=False "
                    f"(got momentum={momentum}, dampening={dampening}, nesterov={nesterov})"
                )
        if ema and lookahead:
            raise ValueError("ema=True and lookahead=True cannot be combined; choose one")
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "ema": ema, "lookahead": lookahead,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss. Required
                with ``lookahead=True``, where it is called at the look-ahead point.
        """
        if not any(group["lookahead"] for group in self.param_groups):
            return super().step(closure)
        if closure is None:
            raise RuntimeError(
                "SGD(lookahead=True).step() needs a closure that re-evaluates the loss: the "
                "gradient is taken at the look-ahead point w - momentum * v"
            )
        # Move every look-ahead parameter to w - mu v, keeping w to restore it exactly
        # (adding mu v back would round differently).
        saved: dict[Tensor, Tensor] = {}
        for group in self.param_groups:
            if group["lookahead"]:
                for p in group["params"]:
                    buf = self.state[p].get("momentum_buffer")
                    if buf is not None:
                        saved[p] = p.clone()
                        p.sub_(buf, alpha=group["momentum"])
        try:
            with torch.enable_grad():
                loss = closure()
        except BaseException:
            for p, w in saved.items():  # leave the model where it was, not at the look-ahead
                p.copy_(w)
            raise
        for group in self.param_groups:
            if group["lookahead"]:
                self._lookahead_update(group, saved)
            else:
                self._update_group(group)
        return loss

    def _lookahead_update(self, group: dict[str, Any], saved: dict[Tensor, Tensor]) -> None:
        lr, mu = scalar(group["lr"]), group["momentum"]
        wd, maximize = group["weight_decay"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                if p in saved:
                    p.copy_(saved[p])
                continue
            grad = -p.grad if maximize else p.grad
            if wd != 0:
                grad = grad.add(p, alpha=wd)  # p is still the look-ahead point here
            if p in saved:
                p.copy_(saved[p])
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = grad.mul(lr)  # v_1 = mu * 0 + lr g
            else:
                buf.mul_(mu).add_(grad, alpha=lr)
            p.sub_(buf)

    def _single_tensor(self, group, params, grads) -> None:
        lr, mu, wd = scalar(group["lr"]), group["momentum"], group["weight_decay"]
        ema, nesterov = group["ema"], group["nesterov"]
        damp = mu if ema else group["dampening"]  # the notes' EMA is momentum damped by mu
        for p, grad in zip(params, grads, strict=True):
            if group["maximize"]:
                grad = -grad  # g_t = -grad f: ascend
            if wd != 0:
                grad = grad.add(p, alpha=wd)  # g_t + lambda theta, a new tensor: never p.grad
            if mu != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    # torch: b_1 = g (no dampening on step 1); notes: V_1 = mu 0 + (1 - mu) g
                    buf = grad.mul(1 - mu) if ema else grad.detach().clone()
                    state["momentum_buffer"] = buf
                else:
                    buf.mul_(mu).add_(grad, alpha=1 - damp)  # b_t = mu b + (1 - tau) g_t
                grad = grad.add(buf, alpha=mu) if nesterov else buf  # g_t + mu b_t, or b_t
            p.add_(grad, alpha=-lr)  # theta_t = theta - gamma g_t

    def _multi_tensor(self, group, params, grads) -> None:
        lr, mu, wd = scalar(group["lr"]), group["momentum"], group["weight_decay"]
        ema, nesterov = group["ema"], group["nesterov"]
        damp = mu if ema else group["dampening"]
        if group["maximize"]:
            grads = torch._foreach_neg(grads)
            if wd != 0:  # reuse the negated copy
                torch._foreach_add_(grads, params, alpha=wd)
        elif wd != 0:
            grads = torch._foreach_add(grads, params, alpha=wd)
        if mu != 0:
            states = [self.state[p] for p in params]
            bufs = [s.get("momentum_buffer") for s in states]
            if all(b is not None for b in bufs):
                torch._foreach_mul_(bufs, mu)
                torch._foreach_add_(bufs, grads, alpha=1 - damp)
            else:  # first step (or a parameter that has just received its first gradient)
                for i, (s, g) in enumerate(zip(states, grads, strict=True)):
                    if bufs[i] is None:
                        bufs[i] = s["momentum_buffer"] = (
                            g.mul(1 - mu) if ema else g.detach().clone()
                        )
                    else:
                        bufs[i].mul_(mu).add_(g, alpha=1 - damp)
            if nesterov:
                # In place, as torch: without maximize or weight decay ``grads`` are the p.grad
                # tensors themselves, which then hold the Nesterov direction after the step; a
                # fresh 4n-byte result would cost more than the whole update on the CPU.
                torch._foreach_add_(grads, bufs, alpha=mu)
            else:
                grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)
