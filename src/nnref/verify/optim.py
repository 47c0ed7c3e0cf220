r"""Lockstep checks for optimizers: a reference and its comparison start from the same model, see
the same batches, and must end with the same parameters.

The comparison is the ``torch.optim`` built-in, or, where there is none or the option is one of
the notes' variants, an independent formula written here (plain tensor arithmetic, one line per
equation, no shared code with :mod:`nnref.optim`):

* ``lars``: :class:`LarsFormula`;
* ``SGD(ema=True)``: torch's momentum with learning rate :math:`\gamma(1 - \mu)` (the notes'
  moving average is :math:`(1 - \mu)` times torch's buffer);
* ``SGD(lookahead=True)``: torch's ``nesterov=True``, whose parameters are the look-ahead points
  :math:`w - \mu v` of the notes' form (compared there);
* ``RMSprop(eps_inside_sqrt=True)``: :class:`RMSpropEpsInsideFormula`.

A spec's ``extra["variants"]`` lists the variant keyword sets checked for it. The pytest suite
(``tests/test_optim.py``) runs these for 500 steps; ``python -m nnref verify`` for
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
from nnref.verify import Row, case_label

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
# Independent formulas (deliberately plain: no foreach, no in-place tricks, no shared helpers)
# ---------------------------------------------------------------------------------------------
class LarsFormula(torch.optim.Optimizer):
    r"""LARS straight from the formula: :math:`r = \eta\|w\| / (\|g\| + \lambda\|w\| + \epsilon)`
    (1 when a norm is 0), :math:`d = r (g + \lambda w)`, :math:`b = \mu b + d` (:math:`b_1 = d`),
    :math:`w \leftarrow w - \gamma b`; tensors with < 2 dims skip r and :math:`\lambda` when
    ``exclude_bias_and_norm``."""

    def __init__(self, params, lr=1.0, momentum=0.9, weight_decay=0.0,
                 trust_coefficient=1e-3, eps=1e-8, exclude_bias_and_norm=False,
                 maximize=False, foreach=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      trust_coefficient=trust_coefficient, eps=eps,
                                      exclude_bias_and_norm=exclude_bias_and_norm,
                                      maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lam, eta = group["weight_decay"], group["trust_coefficient"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = -w.grad if group["maximize"] else w.grad
                if group["exclude_bias_and_norm"] and w.dim() < 2:
                    d = g
                else:
                    wn, gn = (w * w).sum().sqrt(), (g * g).sum().sqrt()
                    r = eta * wn / (gn + lam * wn + group["eps"])
                    if wn == 0 or gn == 0:
                        r = torch.ones_like(r)
                    d = r * (g + lam * w)
                state = self.state[w]
                b = d if "b" not in state else group["momentum"] * state["b"] + d
                state["b"] = b
                w.copy_(w - group["lr"] * b)
        return loss


class RMSpropEpsInsideFormula(torch.optim.Optimizer):
    r"""The notes' RMSProp: :math:`v = \alpha v + (1-\alpha) g^2` (centered: minus
    :math:`\bar g^2`), :math:`s = \sqrt{v + \epsilon}`, then torch's momentum / plain step."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False, foreach=None, eps_inside_sqrt=True):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            a = group["alpha"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = -w.grad if group["maximize"] else w.grad
                g = g + group["weight_decay"] * w
                st = self.state[w]
                st["v"] = a * st.get("v", torch.zeros_like(w)) + (1 - a) * g * g
                var = st["v"]
                if group["centered"]:
                    st["m"] = a * st.get("m", torch.zeros_like(w)) + (1 - a) * g
                    var = var - st["m"] * st["m"]
                s = (var + group["eps"]).sqrt()
                if group["momentum"] > 0:
                    st["b"] = group["momentum"] * st.get("b", torch.zeros_like(w)) + g / s
                    w.copy_(w - group["lr"] * st["b"])
                else:
                    w.copy_(w - group["lr"] * g / s)
        return loss


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
        if spec.name != "lars":
            raise AssertionError(f"{spec.name}: no torch built-in and no formula to compare")
        return (lambda p: LarsFormula(p, **kw), "independent formula")
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
    """All of ``spec.cases`` in one lockstep run: case ``k`` is param group ``k`` (its own MLP)
    of one reference optimizer and one comparison optimizer, so a single ``step()`` updates
    every case (also a test of per-group hyper-parameters). Raises ``AssertionError`` naming
    the case that drifts; returns the largest parameter difference per case."""
    defaults = {**spec.defaults, "foreach": foreach}
    make_base, _ = comparison(spec, defaults)
    models_a = [mlp(dtype, device, seed=k) for k in range(len(spec.cases))]
    models_b = [copy.deepcopy(m) for m in models_a]
    signs = [-1.0 if {**defaults, **case}.get("maximize") else 1.0 for case in spec.cases]
    opt_a = spec.reference([{"params": list(m.parameters()), **case}
                            for m, case in zip(models_a, spec.cases, strict=True)], **defaults)
    opt_b = make_base([{"params": list(m.parameters()), **case}
                       for m, case in zip(models_b, spec.cases, strict=True)])
    for x, y in batches(steps, dtype, device):
        for models, opt in ((models_a, opt_a), (models_b, opt_b)):
            opt.zero_grad()
            sum(s * loss_of(m, x, y) for s, m in zip(signs, models, strict=True)).backward()
            opt.step()
    errors = []
    for case, ma, mb in zip(spec.cases, models_a, models_b, strict=True):
        pairs = [(x.detach(), y.detach())
                 for x, y in zip(ma.parameters(), mb.parameters(), strict=True)]
        for i, (x, y) in enumerate(pairs):
            torch.testing.assert_close(
                x, y, msg=lambda m, i=i, case=case: f"case {case_label(case)}, parameter {i}: {m}")
        errors.append(max(float((x - y).abs().max()) for x, y in pairs))
    return errors


def cases(spec: Spec) -> list[Mapping[str, Any]]:
    """Every keyword set checked for ``spec``: its ``cases`` then its ``extra["variants"]``."""
    return [*spec.cases, *spec.extra.get("variants", ())]


def verify(spec: Spec, device) -> list[Row]:
    """One row per case: a :data:`VERIFY_STEPS`-step float32 lockstep run; ``fwd_err`` is the
    largest parameter difference at the end. Never raises."""
    rows = []
    for kwargs in cases(spec):
        row = Row(spec.kind, spec.name, case_label(kwargs), str(device))
        try:
            _, against = comparison(spec, {**spec.defaults, **kwargs})
            row.message = f"vs {against}"
            row.fwd_err = check_case(spec, kwargs, VERIFY_STEPS, torch.float32, device)
        except Exception as exc:  # a failing case is reported in its row, never raised
            row.fail(exc)
        rows.append(row)
    return rows
