"""What every reference optimizer shares: argument checks, the ``step()`` skeleton that picks the
single-tensor or ``foreach`` path, and the scalar ``step`` counter torch keeps in the state.

Each optimizer subclasses :class:`ReferenceOptimizer` and writes its update rule twice, side by
side, as torch does: ``_single_tensor`` (a Python loop of in-place tensor ops, one parameter at a
time) and ``_multi_tensor`` (the same arithmetic as ``torch._foreach_*`` calls over all the
parameters of one device and dtype). Both follow torch's order of operations, so a reference and
``torch.optim`` started from the same parameters stay bit-for-bit together for as long as they
are fed the same gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.utils._foreach_utils import _get_foreach_kernels_supported_devices

# torch keeps the step counter as a 0-d float tensor on the CPU; a float one, so that
# ``beta ** step`` is a float power and state dicts load into torch unchanged.
_CPU_ONE = torch.tensor(1.0)


def check_nonnegative(value: Any, message: str, name: str) -> None:
    """Raise ``ValueError("Invalid <message>: <value> (<name> must be >= 0)")`` for ``value < 0``.

    The prefix is torch's own message (``Invalid learning rate: -1``), so code matching torch's
    errors matches these too; the suffix names the argument and the allowed range.
    """
    if not 0.0 <= value:
        raise ValueError(f"Invalid {message}: {value} ({name} must be >= 0)")


def check_lr(lr: Any) -> None:
    """torch's learning-rate checks: a float >= 0 or a 1-element tensor."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check_nonnegative(lr, "learning rate", "lr")


def check_beta(beta: Any, index: int) -> None:
    """A moving-average coefficient must lie in [0, 1): 1 would never forget the first value."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(
            f"Invalid beta parameter at index {index}: {beta} (betas[{index}] must be in [0, 1))"
        )


# What torch's optimizers offer and nnref does not claim, with the reason: the one table that
# the optimizers' refusals and the verification against torch's databases both read.
UNCLAIMED = {
    "fused": "a fused kernel is one compiled loop, the opposite of a reference built from "
             "elementary tensor ops",
    "capturable": "the step counter is read as a Python number between steps, which a CUDA "
                  "graph cannot capture",
    "differentiable": "the step runs under no_grad and updates the parameters in place",
    "complex": "the update rules are written for real tensors",
}


def check_unclaimed(owner: str, **options: Any) -> None:
    """Refuse, by name, the options of torch's signature that nnref does not implement.

    They stay in the signature so that positional calls bind as in torch; their "off" values
    (``False``, or ``None`` for ``fused``) are accepted, anything else raises rather than being
    silently ignored. The reasons are the README's table of what nnref does not claim.
    """
    for name, value in options.items():
        if value:
            raise NotImplementedError(
                f"{owner}({name}={value!r}) is not supported: {UNCLAIMED[name]}; use "
                f"torch.optim.{owner} for it"
            )


def scalar(value: Any) -> float:
    """A hyper-parameter as a Python number (a 1-element tensor lr is read once per step)."""
    return value.item() if isinstance(value, Tensor) else value


def step_value(step: Tensor) -> float | Tensor:
    """The step counter as a Python number in eager mode, where ``item()`` is cheaper than
    tensor arithmetic and gives torch's float rounding; while compiling, the tensor itself, so
    that the step stays in one graph (``item()`` would break it), as torch does."""
    return step if torch.compiler.is_compiling() else step.item()


def new_step() -> Tensor:
    """A fresh step counter: 0-d, on the CPU, float64 when that is the default dtype (as torch)."""
    dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
    return torch.zeros((), dtype=dtype)


def increment_steps(steps: list[Tensor]) -> None:
    """``step += 1`` for a list of counters in one call (the CPU ``1`` is wrapped once, not per
    counter, which is what makes torch's foreach path cheap here)."""
    if steps[0].is_cpu and not torch.compiler.is_compiling():
        torch._foreach_add_(steps, _CPU_ONE, alpha=1.0)
    else:
        torch._foreach_add_(steps, 1)


def make_sparse(like: Tensor, indices: Tensor, values: Tensor) -> Tensor:
    """A sparse COO tensor with ``like``'s size holding ``values`` at ``indices``."""
    return torch.sparse_coo_tensor(indices, values, like.size(), check_invariants=False)


def default_foreach(params: list[Tensor]) -> bool:
    """torch's rule for ``foreach=None``: the multi-tensor path when every parameter is a plain
    tensor on a device with foreach kernels (CUDA and friends); the loop on the CPU, where
    ``_foreach_*`` falls back to that same loop anyway."""
    devices = _get_foreach_kernels_supported_devices()
    return all(
        type(p) in (Tensor, torch.nn.Parameter) and p.device.type in devices for p in params
    )


class ReferenceOptimizer(Optimizer):
    """Base class: the ``step()`` loop shared by every reference optimizer.

    Subclasses set :attr:`supports_sparse`, :attr:`extra_defaults` (group keys that torch's
    optimizer does not have, filled in when a torch state dict is loaded) and implement
    ``_single_tensor(group, params, grads)`` and ``_multi_tensor(group, params, grads)``; the
    latter receives the parameters of one device and dtype at a time.
    """

    supports_sparse = False
    extra_defaults: Mapping[str, Any] = {}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group (see :meth:`torch.optim.Optimizer.add_param_group`).

        Stricter than torch, which warns about a parameter listed twice in one group and then
        applies its update twice per step: that is refused here. Complex parameters are
        refused too, at construction rather than at the first step.
        """
        params = param_group["params"]
        if isinstance(params, set):  # torch refuses unordered collections with its own error
            super().add_param_group(param_group)
        params = [params] if isinstance(params, Tensor) else list(params)
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError(
                f"{type(self).__name__}: argument 'params' lists a parameter more than once "
                "in one group; its update would be applied once per listing"
            )
        for p in tensors:
            if isinstance(p, Tensor) and torch.is_complex(p):
                raise NotImplementedError(
                    f"{type(self).__name__}: complex parameters are not supported (got a "
                    f"{p.dtype} parameter): {UNCLAIMED['complex']}; optimize "
                    "torch.view_as_real(p) instead"
                )
        super().add_param_group({**param_group, "params": params})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict (see :meth:`torch.optim.Optimizer.load_state_dict`).

        Stricter than torch: a per-parameter state tensor whose shape differs from its
        parameter's is refused here, naming the key, instead of failing (or broadcasting) at a
        later step.
        """
        groups, saved_groups = self.param_groups, state_dict["param_groups"]
        # groups that do not match get torch's own error below
        if [len(g["params"]) for g in groups] == [len(g["params"]) for g in saved_groups]:
            for index, (group, saved) in enumerate(zip(groups, saved_groups, strict=True)):
                for p, pid in zip(group["params"], saved["params"], strict=True):
                    for key, value in state_dict["state"].get(pid, {}).items():
                        if key != "step" and torch.is_tensor(value) and value.shape != p.shape:
                            raise ValueError(
                                f"load_state_dict(): state '{key}' of parameter {pid} (group "
                                f"{index}) has shape {tuple(value.shape)}, but the parameter "
                                f"has shape {tuple(p.shape)}"
                            )
        super().load_state_dict(state_dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # load_state_dict replaces the param groups with the saved ones; a group saved by
        # torch.optim lacks this implementation's options, so they get their defaults here.
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            for key, value in self.extra_defaults.items():
                group.setdefault(key, value)
        for param_state in self.state.values():
            if "step" in param_state and not torch.is_tensor(param_state["step"]):
                param_state["step"] = new_step().fill_(float(param_state["step"]))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step.

        Args:
            closure (Callable, optional): re-evaluates the model and returns the loss; it is
                called with gradients enabled before the update.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        params, grads = [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse and not self.supports_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            params.append(p)
            grads.append(p.grad)
        if not params:
            return
        foreach = group["foreach"]
        if foreach is None:
            foreach = default_foreach(params)
        # foreach kernels take dense tensors only; torch falls back to the loop for sparse ones
        if not foreach or any(g.is_sparse for g in grads):
            self._single_tensor(group, params, grads)
            return
        grouped = Optimizer._group_tensors_by_device_and_dtype([params, grads])
        for (device_params, device_grads), _ in grouped.values():
            self._multi_tensor(group, device_params, device_grads)

    def _single_tensor(self, group, params: list[Tensor], grads: list[Tensor]) -> None:
        raise NotImplementedError

    def _multi_tensor(self, group, params: list[Tensor], grads: list[Tensor]) -> None:
        raise NotImplementedError
