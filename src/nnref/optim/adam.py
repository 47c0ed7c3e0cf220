r"""Adam and AdamW: momentum plus RMSProp scaling, with bias correction."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from nnref.optim._common import (
    ReferenceOptimizer,
    check_beta,
    check_lr,
    check_nonnegative,
    check_unclaimed,
    increment_steps,
    new_step,
    scalar,
    step_value,
)

__all__ = ["Adam", "AdamW"]


def _check_tensor_hyperparameter(value, name: str, foreach: bool | None) -> None:
    # torch's foreach Adam takes its scalars as Python numbers; it refuses tensors up front
    if isinstance(value, Tensor) and foreach:
        raise ValueError(
            f"{name} as a Tensor is not supported for capturable=False and foreach=True"
        )


class Adam(ReferenceOptimizer):
    r"""Adam (Kingma & Ba, 2015): momentum and RMSProp scaling, each average bias-corrected.

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)}, \\
       &\hspace{13mm} \theta_0 \text{ (params)},\ f(\theta) \text{ (objective)}, \\
       &\hspace{13mm} \lambda \text{ (weight\_decay)},\ \epsilon \text{ (eps)}, \\
       &\hspace{13mm} \textit{amsgrad},\ \textit{maximize},\ \textit{decoupled\_weight\_decay} \\
       &\textbf{initialize}: m_0 \leftarrow 0 \text{ (first moment)},
           \ v_0 \leftarrow 0 \text{ (second moment)},\ v^{max}_0 \leftarrow 0 \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do} \\
       &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
           \quad (-\nabla_\theta f_t(\theta_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm}\textbf{if}\ \lambda \ne 0 \text{ and } \textit{decoupled\_weight\_decay}:
           \ \theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} \\
       &\hspace{5mm}\textbf{else if}\ \lambda \ne 0:\ g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
       &\hspace{5mm} v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
       &\hspace{5mm}\textbf{if}\ \textit{amsgrad}:\ v^{max}_t \leftarrow
           \max(v^{max}_{t-1}, v_t),\ \hat v_t \leftarrow v^{max}_t
           \quad\textbf{else}\ \hat v_t \leftarrow v_t \\
       &\hspace{5mm}\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
           \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1 - \beta_2^t} + \epsilon} \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ \theta_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    Averages started at zero are biased towards zero: dividing by :math:`1 - \beta^t` undoes
    it, so the first step is :math:`\gamma\,\operatorname{sign}(g_1)` per coordinate instead of
    :math:`1 - \beta_1` times that. The lecture notes describe Adam as momentum plus RMSProp
    with bias correction, i.e. :math:`\hat m_t = m_t/(1 - \beta_1^t)`,
    :math:`\hat v_t = v_t/(1 - \beta_2^t)`, :math:`\theta_t = \theta_{t-1} - \gamma\hat m_t /
    (\sqrt{\hat v_t} + \epsilon)`: the same update. The box applies the corrections to the step
    size and the root instead, in torch's order of operations (:math:`m` as a lerp), so that
    this class and ``torch.optim.Adam`` stay bit-for-bit equal.

    State keys: ``step`` (a 0-d CPU tensor), ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`) and, with ``amsgrad``, ``max_exp_avg_sq`` (:math:`v^{max}`): 8 bytes per
    float32 parameter (12 with ``amsgrad``), the notes' figure.

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-3). A tensor
            is refused with ``foreach=True``, as torch does.
        betas (tuple[float | Tensor, float | Tensor], optional): :math:`(\beta_1, \beta_2)`,
            each in [0, 1), both floats or both tensors (default: (0.9, 0.999)).
        eps (float, optional): added to the denominator, :math:`\epsilon \ge 0`
            (default: 1e-8).
        weight_decay (float, optional): :math:`\lambda \ge 0` (default: 0).
        amsgrad (bool, optional): divide by the running maximum of :math:`v` (default: False).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch (default: None).
        maximize (bool, optional): maximize the objective instead (default: False).
        capturable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        differentiable (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: False).
        fused (bool, optional): not supported; ``True`` raises NotImplementedError
            (default: None).
        decoupled_weight_decay (bool, optional): decay the weights directly instead of adding
            :math:`\lambda\theta` to the gradient; this is AdamW (default: False).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = Adam([w], lr=0.1)
        >>> w.grad = torch.tensor([0.5, -3.0])
        >>> opt.step()
        >>> w.detach()  # bias-corrected: the first step is lr against each gradient's sign
        tensor([ 0.9000, -1.9000])
        >>> sorted(opt.state[w])
        ['exp_avg', 'exp_avg_sq', 'step']
        >>> twin = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> theirs = torch.optim.Adam([twin], lr=0.1)
        >>> twin.grad = torch.tensor([0.5, -3.0])
        >>> theirs.step()
        >>> torch.equal(w, twin)
        True
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        owner = "AdamW" if decoupled_weight_decay and type(self) is AdamW else "Adam"
        check_unclaimed(owner, capturable=capturable, differentiable=differentiable,
                        fused=fused)
        _check_tensor_hyperparameter(lr, "lr", foreach)
        check_lr(lr)
        check_nonnegative(eps, "epsilon value", "eps")
        check_beta(betas[0], 0)
        check_beta(betas[1], 1)
        check_nonnegative(weight_decay, "weight_decay value", "weight_decay")
        if isinstance(betas[0], Tensor) != isinstance(betas[1], Tensor):
            raise ValueError("betas must be either both floats or both Tensors")
        for index, beta in enumerate(betas):
            _check_tensor_hyperparameter(beta, f"betas[{index}]", foreach)
            if isinstance(beta, Tensor) and beta.numel() != 1:
                raise ValueError(f"Tensor betas[{index}] must be 1-element")
        # torch keeps a 1-element tensor beta as a 0-d one, so that it broadcasts anywhere
        betas = tuple(b.squeeze() if isinstance(b, Tensor) else b for b in betas)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("decoupled_weight_decay", False)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            state["step"] = new_step()
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(
                    p, memory_format=torch.preserve_format)
        return state

    def _single_tensor(self, group, params, grads) -> None:
        lr, (beta1, beta2), eps = scalar(group["lr"]), group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        for p, grad in zip(params, grads, strict=True):
            state = self._init_state(p, group)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            if group["maximize"]:
                grad = -grad  # g_t = -grad f: ascend
            state["step"] += 1  # t
            if wd != 0:
                if group["decoupled_weight_decay"]:
                    p.mul_(1 - lr * wd)  # theta <- (1 - gamma lambda) theta, outside m and v
                else:
                    grad = grad.add(p, alpha=wd)  # g_t + lambda theta, a new tensor: never p.grad
            # m_t = beta1 m + (1 - beta1) g_t, written as a lerp because torch rounds it so
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v_t
            step = step_value(state["step"])
            step_size = lr / (1 - beta1**step)  # gamma / (1 - beta1^t)
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5  # sqrt(1 - beta2^t)
            if amsgrad:
                second = state["max_exp_avg_sq"]
                torch.maximum(second, exp_avg_sq, out=second)  # v^max_t = max(v^max, v_t)
            else:
                second = exp_avg_sq
            denom = (second.sqrt() / bias_correction2_sqrt).add_(eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)  # theta_t

    def _multi_tensor(self, group, params, grads) -> None:
        # foreach=None picks this path on CUDA after construction: torch refuses tensors here too
        for name, value, error in (("lr", group["lr"], RuntimeError),
                                   ("beta1", group["betas"][0], ValueError),
                                   ("beta2", group["betas"][1], ValueError)):
            if isinstance(value, Tensor):
                raise error(f"{name} as a Tensor is not supported for capturable=False and "
                            "foreach=True")
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        states = [self._init_state(p, group) for p in params]
        exp_avgs = [s["exp_avg"] for s in states]
        exp_avg_sqs = [s["exp_avg_sq"] for s in states]
        steps = [s["step"] for s in states]
        owned = False  # whether ``grads`` are temporaries we may overwrite (never p.grad)
        if group["maximize"]:
            grads, owned = torch._foreach_neg(grads), True
        increment_steps(steps)
        if wd != 0:
            if group["decoupled_weight_decay"]:
                torch._foreach_mul_(params, 1 - lr * wd)
            elif owned:
                torch._foreach_add_(grads, params, alpha=wd)
            else:
                grads = torch._foreach_add(grads, params, alpha=wd)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        del grads  # a temporary copy, when maximize or weight decay made one: free it early
        step_values = [step_value(s) for s in steps]
        minus_step_size = [(lr / (1 - beta1**t)) * -1 for t in step_values]
        bias_correction2_sqrt = [(1 - beta2**t) ** 0.5 for t in step_values]
        if amsgrad:
            max_sqs = [s["max_exp_avg_sq"] for s in states]
            torch._foreach_maximum_(max_sqs, exp_avg_sqs)
            denom = torch._foreach_sqrt(max_sqs)
        else:
            denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, eps)
        if torch.compiler.is_compiling():
            # the step sizes are tensors here, which addcdiv_ takes only as a CPU scalar list
            # that the compiler cannot trace: fold them into the denominator instead, as
            # torch's compiled Adam does
            torch._foreach_div_(denom, minus_step_size)
            torch._foreach_addcdiv_(params, exp_avgs, denom)
        else:
            torch._foreach_addcdiv_(params, exp_avgs, denom, minus_step_size)


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay.

    .. math::
       \begin{aligned}
       &\rule{110mm}{0.4pt} \\
       &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)}, \\
       &\hspace{13mm} \theta_0 \text{ (params)},\ f(\theta) \text{ (objective)}, \\
       &\hspace{13mm} \lambda \text{ (weight\_decay)},\ \epsilon \text{ (eps)}, \\
       &\hspace{13mm} \textit{amsgrad},\ \textit{maximize} \\
       &\textbf{initialize}: m_0 \leftarrow 0,\ v_0 \leftarrow 0,\ v^{max}_0 \leftarrow 0 \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{for}\ t = 1, 2, \ldots\ \textbf{do} \\
       &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
           \quad (-\nabla_\theta f_t(\theta_{t-1}) \text{ if } \textit{maximize}) \\
       &\hspace{5mm}\theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} \\
       &\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
       &\hspace{5mm} v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
       &\hspace{5mm}\textbf{if}\ \textit{amsgrad}:\ v^{max}_t \leftarrow
           \max(v^{max}_{t-1}, v_t),\ \hat v_t \leftarrow v^{max}_t
           \quad\textbf{else}\ \hat v_t \leftarrow v_t \\
       &\hspace{5mm}\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
           \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1 - \beta_2^t} + \epsilon} \\
       &\rule{110mm}{0.4pt} \\
       &\textbf{return}\ \theta_t \\
       &\rule{110mm}{0.4pt}
       \end{aligned}

    The decay no longer passes through :math:`m` and :math:`v`, so it is not rescaled by
    :math:`1/\sqrt{\hat v}`: every weight shrinks by the same factor, which is what an L2
    penalty does under plain SGD and what it fails to do under Adam. The notes list AdamW as
    "Adam with decoupled weight decay"; the rule is torch's, step for step.

    Args:
        params (iterable): parameters, named parameters or dicts defining parameter groups.
        lr (float, Tensor, optional): learning rate :math:`\gamma` (default: 1e-3).
        betas (tuple[float | Tensor, float | Tensor], optional): :math:`(\beta_1, \beta_2)`
            (default: (0.9, 0.999)).
        eps (float, optional): :math:`\epsilon \ge 0` (default: 1e-8).
        weight_decay (float, optional): decoupled decay :math:`\lambda \ge 0` (default: 1e-2).
        amsgrad (bool, optional): divide by the running maximum of :math:`v` (default: False).
        maximize (bool, optional): maximize the objective instead (default: False).
        foreach (bool, optional): use the ``torch._foreach_*`` path; ``None`` chooses like
            torch (default: None).
        capturable, differentiable, fused (bool, optional): not supported, as in
            :class:`Adam` (defaults: False, False, None).

    Examples::

        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamW([w], lr=0.1, weight_decay=0.01)
        >>> w.grad = torch.tensor([0.5, -3.0])
        >>> opt.step()
        >>> w.detach()  # (1 - lr wd) w, then Adam's first step of lr against the sign
        tensor([ 0.8990, -1.8980])
    """

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # an Adam state dict loaded here becomes AdamW
            group["decoupled_weight_decay"] = True
