r"""Lockstep checks for optimizers: a reference and its comparison start from the same model, see
the same batches, and must end with the same parameters.

The comparison is the ``torch.optim`` built-in, or, where there is none or the option is one of
the notes' variants, an independent formula from :mod:`nnref.verify.cases.optim`:

* an optimizer torch lacks (``lars``): its cases' ``oracle``;
* ``SGD(ema=True)``: torch's momentum with learning rate :math:`\gamma(1 - \mu)` (the notes'
  moving average is :math:`(1 - \mu)` times torch's buffer);
* ``SGD(lookahead=True)``: torch's ``nesterov=True``, whose parameters are the look-ahead points
  :math:`w - \mu v` of the notes' form (compared there);
* ``RMSprop(eps_inside_sqrt=True)``: :class:`~nnref.verify.cases.optim.RMSpropEpsInsideFormula`.

The cases' ``variants`` list the variant keyword sets checked for each optimizer. The pytest
suite (``tests/test_optim.py``) runs these for 500 steps; ``python -m nnref verify`` for
:data:`VERIFY_STEPS`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnref.registry import Spec
from nnref.verify import Row, case_label, cases
from nnref.verify.cases.optim import RMSpropEpsInsideFormula

VERIFY_STEPS = 50
IN, HIDDEN, OUT, BATCH = 6, 16, 3, 16

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]


def mlp(dtype=torch.float32, device="cpu", seed: int = 0) -> nn.Module:
    """A one-hidden-layer tanh MLP (four parameter tensors: two "layers" for LARS, biases for
    its exclusion rule), initialised without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, OUT))
    return model.to(device=device, dtype=dtype)


def batches(steps: int, dtype=torch.float32, device="cpu", seed: int = 1) -> Iterator:
    """``steps`` regression batches ``(x, y)``, the same for a given seed on every device."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(BATCH, IN, generator=g, dtype=torch.float64)
        y = torch.randn(BATCH, OUT, generator=g, dtype=torch.float64)
        yield x.to(device=device, dtype=dtype), y.to(device=device, dtype=dtype)


def loss_of(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (model(x) - y).pow(2).mean()


@dataclass
class Run:
    """Two models trained side by side with their optimizers."""

    model_a: nn.Module
    model_b: nn.Module
    opt_a: torch.optim.Optimizer
    opt_b: torch.optim.Optimizer

    def train(self, steps: int, *, seed: int = 1, closure: bool = False,
              schedulers: tuple = ()) -> None:
        """``steps`` steps on the same batches: ``zero_grad, backward, step()`` or, with
        ``closure``, ``step(closure)``; then each scheduler in ``schedulers`` steps. An
        optimizer with ``maximize=True`` is given the negated loss, which it then minimises
        (maximising the MSE itself would diverge)."""
        p = next(self.model_a.parameters())
        for x, y in batches(steps, p.dtype, p.device, seed):
            for model, opt in ((self.model_a, self.opt_a), (self.model_b, self.opt_b)):
                def fn(model=model, opt=opt, x=x, y=y):
                    opt.zero_grad()
                    loss = loss_of(model, x, y)
                    if opt.defaults.get("maximize"):
                        loss = -loss
                    loss.backward()
                    return loss
                if closure:
                    opt.step(fn)
                else:
                    fn()
                    opt.step()
            for sched in schedulers:
                sched.step()

    def params(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return ([p.detach() for p in self.model_a.parameters()],
                [p.detach() for p in self.model_b.parameters()])


def pair(make_a: OptimizerFactory, make_b: OptimizerFactory, dtype=torch.float32,
         device="cpu", groups: Callable[[nn.Module], Any] | None = None) -> Run:
    """Two identical MLPs with an optimizer each; ``groups(model)`` builds param groups."""
    a = mlp(dtype, device)
    b = copy.deepcopy(a)
    split = groups or (lambda m: m.parameters())
    return Run(a, b, make_a(split(a)), make_b(split(b)))


def assert_params_close(run: Run) -> None:
    """``torch.testing.assert_close`` at default tolerances, parameter by parameter."""
    pa, pb = run.params()
    for i, (x, y) in enumerate(zip(pa, pb, strict=True)):
        torch.testing.assert_close(x, y, msg=lambda m, i=i: f"parameter {i}: {m}")


# ---------------------------------------------------------------------------------------------
# What each registered case is compared with
# ---------------------------------------------------------------------------------------------
def comparison(spec: Spec, kwargs: Mapping[str, Any]) -> tuple[OptimizerFactory, str]:
    """The factory the reference built with ``kwargs`` is checked against, and its name."""
    kw = dict(kwargs)
    if kw.pop("ema", False):
        mu = kw["momentum"]
        return (lambda p: torch.optim.SGD(p, **{**kw, "lr": kw["lr"] * (1 - mu)}),
                "torch SGD with lr * (1 - momentum)")
    if kw.pop("lookahead", False):
        return (lambda p: torch.optim.SGD(p, **{**kw, "nesterov": True}),
                "torch SGD(nesterov=True) at the look-ahead points")
    if kw.get("eps_inside_sqrt"):
        return (lambda p: RMSpropEpsInsideFormula(p, **kw), "independent formula")
    if spec.builtin is None:
        oracle = cases.of(spec).oracle
        if oracle is None:
            raise AssertionError(f"{spec.name}: no torch built-in and no formula to compare")
        return (lambda p: oracle(p, **kw), "independent formula")
    return (lambda p: spec.builtin(p, **kw), f"torch.optim.{spec.builtin.__name__}")


def lookahead_points(run: Run) -> list[torch.Tensor]:
    """:math:`w - \\mu v` for every parameter of ``run.model_a`` (a ``lookahead`` SGD)."""
    out = []
    for group in run.opt_a.param_groups:
        for p in group["params"]:
            buf = run.opt_a.state[p].get("momentum_buffer")
            out.append(p.detach() if buf is None else p.detach() - group["momentum"] * buf)
    return out


def check_case(spec: Spec, kwargs: Mapping[str, Any], steps: int, dtype=torch.float32,
               device="cpu") -> float:
    """Train the reference (``spec.defaults`` updated by ``kwargs``) and its comparison in
    lockstep for ``steps`` steps; raise ``AssertionError`` unless every parameter is
    ``assert_close``; return the largest parameter difference."""
    kw = {**spec.defaults, **kwargs}
    make_ref = lambda p: spec.reference(p, **kw)  # noqa: E731
    make_base, _ = comparison(spec, kw)
    lookahead = bool(kw.get("lookahead"))
    run = pair(make_ref, make_base, dtype, device)
    run.train(steps, closure=lookahead)
    if lookahead:  # compare the look-ahead points with torch's (re-parametrised) parameters
        pa, pb = lookahead_points(run), run.params()[1]
    else:
        pa, pb = run.params()
    for i, (x, y) in enumerate(zip(pa, pb, strict=True)):
        torch.testing.assert_close(x, y, msg=lambda m, i=i: f"parameter {i}: {m}")
    return max(float((x - y).abs().max()) for x, y in zip(pa, pb, strict=True))


def check_cases_grouped(spec: Spec, steps: int, dtype=torch.float32, device="cpu",
                        foreach: bool | None = None) -> list[float]:
    """All of the cases' ``kwargs`` in one lockstep run: case ``k`` is param group ``k`` (its own
    MLP) of one reference optimizer and one comparison optimizer, so a single ``step()`` updates
    every case (also a test of per-group hyper-parameters). Raises ``AssertionError`` naming
    the case that drifts; returns the largest parameter difference per case."""
    defaults = {**spec.defaults, "foreach": foreach}
    kwargs = cases.of(spec).kwargs
    make_base, _ = comparison(spec, defaults)
    models_a = [mlp(dtype, device, seed=k) for k in range(len(kwargs))]
    models_b = [copy.deepcopy(m) for m in models_a]
    signs = [-1.0 if {**defaults, **case}.get("maximize") else 1.0 for case in kwargs]
    opt_a = spec.reference([{"params": list(m.parameters()), **case}
                            for m, case in zip(models_a, kwargs, strict=True)], **defaults)
    opt_b = make_base([{"params": list(m.parameters()), **case}
                       for m, case in zip(models_b, kwargs, strict=True)])
    for x, y in batches(steps, dtype, device):
        for models, opt in ((models_a, opt_a), (models_b, opt_b)):
            opt.zero_grad()
            sum(s * loss_of(m, x, y) for s, m in zip(signs, models, strict=True)).backward()
            opt.step()
    errors = []
    for case, ma, mb in zip(kwargs, models_a, models_b, strict=True):
        pairs = [(x.detach(), y.detach())
                 for x, y in zip(ma.parameters(), mb.parameters(), strict=True)]
        for i, (x, y) in enumerate(pairs):
            torch.testing.assert_close(
                x, y, msg=lambda m, i=i, case=case: f"case {case_label(case)}, parameter {i}: {m}")
        errors.append(max(float((x - y).abs().max()) for x, y in pairs))
    return errors


def all_kwargs(spec: Spec) -> list[Mapping[str, Any]]:
    """Every keyword set checked for ``spec``: its cases' ``kwargs`` then their ``variants``."""
    c = cases.of(spec)
    return [*c.kwargs, *c.variants]


def verify(spec: Spec, device) -> list[Row]:
    """One row per case: a :data:`VERIFY_STEPS`-step float32 lockstep run; ``fwd_err`` is the
    largest parameter difference at the end. Never raises."""
    rows = []
    for kwargs in all_kwargs(spec):
        row = Row(spec.kind, spec.name, case_label(kwargs), str(device))
        try:
            _, against = comparison(spec, {**spec.defaults, **kwargs})
            row.message = f"vs {against}"
            row.fwd_err = check_case(spec, kwargs, VERIFY_STEPS, torch.float32, device)
        except Exception as exc:  # a failing case is reported in its row, never raised
            row.fail(exc)
        rows.append(row)
    return rows
