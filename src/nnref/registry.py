"""The registry: one table maps every component name to its reference, its torch built-in and
what the verification harness needs to test it.

Everything else is driven from here: the parity tests (``tests/``), ``python -m nnref verify``,
``scripts/bench.py``, the Hydra config groups and the README's feature table. Adding a component
is adding one :class:`Spec`; it is tested the moment it exists.

Kinds: ``activation``, ``loss``, ``init``, ``optim``, ``dropout``, ``norm``.

Example::

    >>> from nnref import registry
    >>> registry.get("activation", "leaky_relu", negative_slope=0.2)
    LeakyReLU(negative_slope=0.2)
    >>> registry.get("activation", "leaky_relu", impl="torch")
    LeakyReLU(negative_slope=0.01)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnref import activations as A
from nnref import dropout as D  # noqa: F401  (filled by the dropout issue)
from nnref import init as I  # noqa: F401,E741
from nnref import losses as L  # noqa: F401
from nnref import normalization as N  # noqa: F401
from nnref import optim as O  # noqa: F401

__all__ = [
    "Spec",
    "UnknownNameError",
    "ACTIVATIONS",
    "LOSSES",
    "INITIALIZERS",
    "OPTIMIZERS",
    "DROPOUT",
    "NORMALIZATION",
    "KINDS",
    "get",
    "spec",
    "names",
]


@dataclass(frozen=True)
class Spec:
    """One registered component.

    Attributes:
        name: canonical lower-snake-case name (``leaky_relu``).
        kind: one of :data:`KINDS`.
        reference: the nnref implementation (a Module/Optimizer class, or a function for ``init``).
        builtin: the torch counterpart taking the same keyword arguments, or ``None`` when torch
            has none (the harness then checks against an independent formula in
            :mod:`nnref.verify.oracles`).
        aliases: other accepted names (``swish1``, ``glorot_normal`` ...).
        defaults: keyword arguments :func:`get` applies unless overridden (``momentum`` is SGD
            with ``momentum=0.9``).
        cases: keyword-argument sets the harness tests, one parity run per entry.
        domain: interval test inputs are drawn from.
        kinks: points where the derivative is a convention (tested exactly).
        hyper: ranges ``name -> (low, high)`` that property tests draw float hyper-parameters from.
        invalid: ``(kwargs, exception type)`` pairs that construction must reject; the first
            key is the invalid argument, which the error message must name.
        family: grouping for docs and reports (``sigmoid``, ``rectifier``, ...).
        note: one line for tables and docs; says where the notes differ.
        output_range: activations: the bounded output interval ``(low, high)`` (sigmoid
            ``(0, 1)``), where the derivative vanishes near either bound; ``None`` when unbounded.
        dies: activations: a unit can die (output <= 0 for every input of a batch leaves it
            zero or only a small negative-side gradient): the rectifier and exponential families.
        extra: kind-specific data for the harness (documented by the kind's verifier); for
            activations ``scalar_case`` (kwargs for 0-d input) and ``hyper_min_abs``.
    """

    name: str
    kind: str
    reference: Callable[..., Any]
    builtin: Callable[..., Any] | None = None
    aliases: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    cases: tuple[Mapping[str, Any], ...] = ({},)
    domain: tuple[float, float] = (-4.0, 4.0)
    kinks: tuple[float, ...] = ()
    hyper: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    invalid: tuple[tuple[Mapping[str, Any], type[Exception]], ...] = ()
    family: str = ""
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    output_range: tuple[float, float] | None = None
    dies: bool = False

    def target(self, impl: str = "reference") -> Callable[..., Any]:
        """The class or function behind ``impl`` (``"reference"`` or ``"torch"``)."""
        if impl == "reference":
            return self.reference
        if impl == "torch":
            if self.builtin is None:
                raise LookupError(
                    f"{self.kind} '{self.name}' has no torch built-in; use impl='reference'"
                )
            return self.builtin
        raise ValueError(f"impl must be 'reference' or 'torch', got {impl!r}")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def _table(*specs: Spec) -> dict[str, Spec]:
    table: dict[str, Spec] = {}
    for s in specs:
        if s.name in table:
            raise ValueError(f"duplicate registry name {s.name!r}")
        table[s.name] = s
    return table


_RELU_KINK = (0.0,)

# ---------------------------------------------------------------------------------------------
# Activations (INVENTORY section 1). Shapes in the harness put channels (C = 6) on dim 1.
# ---------------------------------------------------------------------------------------------
ACTIVATIONS: dict[str, Spec] = _table(
    Spec("identity", "activation", A.Identity, nn.Identity, aliases=("linear", "none"),
         family="linear", note="f(x) = x; the output layer of a regression net"),
    Spec("binary_step", "activation", A.BinaryStep, None, aliases=("heaviside", "step"),
         kinks=(0.0,), family="step",
         note="forward equals torch.heaviside(x, 1); derivative taken as 0 everywhere "
              "(torch's heaviside has none)"),
    Spec("sigmoid", "activation", A.Sigmoid, nn.Sigmoid, output_range=(0.0, 1.0), aliases=("logistic",),
         family="sigmoid", note="f' = f(1 - f) <= 1/4: the cause of vanishing gradients"),
    Spec("tanh", "activation", A.Tanh, nn.Tanh, output_range=(-1.0, 1.0), family="sigmoid",
         note="f' = 1 - f^2 (notes: '1 - tanh x' and 'not differentiable at 0': both wrong)"),
    Spec("softsign", "activation", A.Softsign, nn.Softsign, output_range=(-1.0, 1.0), aliases=("elliotsig",),
         family="sigmoid", note="x / (1 + |x|)"),
    Spec("sqnl", "activation", A.SQNL, None, output_range=(-1.0, 1.0), kinks=(-2.0, 2.0), domain=(-3.0, 3.0),
         family="sigmoid", note="square nonlinearity; no torch built-in"),
    Spec("relu", "activation", A.ReLU, nn.ReLU, cases=({}, {"inplace": True}),
         kinks=_RELU_KINK, family="rectifier", dies=True, note="max(0, x); derivative 0 at 0 as torch"),
    Spec("brelu", "activation", A.BReLU, None, aliases=("bipolar_relu",), kinks=_RELU_KINK,
         family="rectifier", dies=True, note="ReLU on even, -ReLU(-x) on odd features; no built-in"),
    Spec("leaky_relu", "activation", A.LeakyReLU, nn.LeakyReLU,
         cases=({}, {"negative_slope": 0.2}, {"negative_slope": 0.1, "inplace": True}),
         kinks=_RELU_KINK, hyper={"negative_slope": (0.0, 0.5)}, family="rectifier", dies=True,
         note="slope * x for x < 0 (notes: '0.01')"),
    Spec("prelu", "activation", A.PReLU, nn.PReLU,
         cases=({}, {"num_parameters": 6}, {"num_parameters": 6, "init": -0.3}),
         kinks=_RELU_KINK, hyper={"init": (-1.0, 1.0)},
         invalid=(({"num_parameters": 0}, ValueError), ({"num_parameters": -1}, ValueError)),
         family="rectifier", dies=True, note="learnable slope a (notes: 'ax + b'); init 0.25",
         extra={"scalar_case": {}}),
    Spec("rrelu", "activation", A.RReLU, nn.RReLU,
         cases=({}, {"lower": 0.05, "upper": 0.4}), kinks=_RELU_KINK,
         invalid=(({"lower": 0.5, "upper": 0.1}, ValueError),), family="rectifier", dies=True,
         note="slope ~ U(lower, upper) in training, (lower + upper) / 2 in eval",
         extra={"stochastic": True}),
    Spec("elu", "activation", A.ELU, nn.ELU,
         cases=({}, {"alpha": 0.5}, {"alpha": -0.5}, {"alpha": 1.0, "inplace": True}),
         kinks=_RELU_KINK, hyper={"alpha": (-2.0, 3.0)}, family="exponential", dies=True,
         note="alpha (e^x - 1) for x <= 0"),
    Spec("selu", "activation", A.SELU, nn.SELU, cases=({}, {"inplace": True}),
         kinks=_RELU_KINK, family="exponential", dies=True, note="self-normalising; pair with lecun_normal"),
    Spec("apl", "activation", A.APL, None,
         cases=({"num_features": 6}, {"num_features": 6, "hinges": 3}), kinks=_RELU_KINK,
         invalid=(({"num_features": 0}, ValueError), ({"hinges": 0, "num_features": 6},
                                                       ValueError)),
         family="rectifier", dies=True, note="adaptive piecewise linear, learnable hinges; no built-in",
         extra={"scalar_case": {"num_features": 1}}),
    Spec("bent_identity", "activation", A.BentIdentity, None, family="smooth",
         note="(sqrt(x^2 + 1) - 1) / 2 + x; no built-in"),
    Spec("silu", "activation", A.SiLU, nn.SiLU, aliases=("swish1", "swish_1"),
         cases=({}, {"inplace": True}), family="gated", note="x * sigmoid(x)"),
    Spec("swish", "activation", A.Swish, None,
         cases=({}, {"beta": 1.7}, {"beta": 0.5, "learnable": True}),
         hyper={"beta": (0.05, 4.0)},
         family="gated", note="x * sigmoid(beta x), beta fixed or learnable; no built-in"),
    Spec("softplus", "activation", A.Softplus, nn.Softplus,
         cases=({}, {"beta": 2.0, "threshold": 5.0}), domain=(-12.0, 12.0),
         hyper={"beta": (0.1, 5.0), "threshold": (1.0, 30.0)},
         invalid=(({"beta": 0.0}, ValueError), ({"beta": -1.0}, ValueError)),
         family="smooth", note="log(1 + e^x), linear above threshold like torch"),
    Spec("soft_exponential", "activation", A.SoftExponential, None,
         cases=({}, {"alpha": 0.5}, {"alpha": -0.5}), domain=(-1.0, 3.0),
         hyper={"alpha": (-0.2, 0.9)},
         # Below this |alpha| the oracle's autograd alpha-gradient cancels (x/a - x a/a^2);
         # small alpha is tested against float64 finite differences instead.
         extra={"hyper_min_abs": 1e-3},
         family="smooth", note="learnable alpha interpolates log, identity and exp "
                               "(notes' table drops +alpha and writes eps for alpha)"),
    Spec("soft_clipping", "activation", A.SoftClipping, None, output_range=(0.0, 1.0),
         cases=({}, {"alpha": 5.0}), domain=(-6.0, 6.0), hyper={"alpha": (0.2, 20.0)},
         invalid=(({"alpha": 0.0}, ValueError),),
         family="smooth", note="smooth clip to (0, 1); notes garble the derivative"),
    Spec("softmax", "activation", A.Softmax, nn.Softmax,
         cases=({"dim": 1}, {"dim": -1}, {"dim": 0}), family="softmax",
         note="max-subtracted; two classes = sigmoid of the logit difference",
         extra={"scalar_case": {"dim": 0}}),
    Spec("log_softmax", "activation", A.LogSoftmax, nn.LogSoftmax,
         cases=({"dim": 1}, {"dim": -1}), family="softmax", note="x - logsumexp(x)",
         extra={"scalar_case": {"dim": -1}}),
)

# ---------------------------------------------------------------------------------------------
# Losses (INVENTORY section 2) — kind "loss".
# ---------------------------------------------------------------------------------------------
# extra["input"]: how the harness draws the input ("logits" (default) | "probability" in (0, 1)
# | "log_probability" rows); extra["target"]: "real" | "binary" (soft labels in [0, 1]) |
# "index" (class indices, ignore_index sprinkled in when the case sets it) | "probability"
# (rows summing to 1). Case keys starting with "_" are harness options, not constructor
# arguments: "_target" overrides extra["target"], "_shape" the input shape (classes on dim 1).
# extra["scale_if"]: {kwarg: factor} for reference-only options the built-in lacks: the
# built-in's value and gradients times factor are the expected result (half-MSE = MSE / 2).
_REDUCTIONS = ({}, {"reduction": "sum"}, {"reduction": "none"})
_BAD_REDUCTION = (({"reduction": "avg"}, ValueError),)
_CLASS_WEIGHT = (0.5, 1.0, 2.0, 0.1, 1.5)  # the harness uses C = 5 classes

LOSSES: dict[str, Spec] = _table(
    Spec("mse", "loss", L.MSELoss, nn.MSELoss, aliases=("mean_squared_error", "l2"),
         cases=_REDUCTIONS + ({"half": True}, {"half": True, "reduction": "sum"}),
         invalid=_BAD_REDUCTION, family="regression",
         note="mean (x - y)^2; half=True is the notes' 1/2 (y - y_hat)^2 'loss'",
         extra={"target": "real", "scale_if": {"half": 0.5}}),
    Spec("mae", "loss", L.L1Loss, nn.L1Loss, aliases=("l1", "mean_absolute_error"),
         cases=_REDUCTIONS, invalid=_BAD_REDUCTION, family="regression",
         note="mean |x - y|; subgradient 0 at 0 like torch", extra={"target": "real"}),
    Spec("huber", "loss", L.HuberLoss, nn.HuberLoss, aliases=("smooth_l1_delta",),
         cases=_REDUCTIONS + ({"delta": 0.5}, {"delta": 2.0, "reduction": "none"}),
         hyper={"delta": (0.05, 3.0)},
         invalid=_BAD_REDUCTION + (({"delta": 0.0}, ValueError), ({"delta": -1.0}, ValueError)),
         family="regression", note="1/2 e^2 inside delta, linear outside",
         extra={"target": "real"}),
    Spec("rmse", "loss", L.RMSELoss, None, aliases=("root_mean_squared_error",),
         cases=_REDUCTIONS, invalid=_BAD_REDUCTION, family="regression",
         note="sqrt(MSE); no built-in; gradient 0 at zero error", extra={"target": "real"}),
    Spec("bce", "loss", L.BCELoss, nn.BCELoss, aliases=("binary_cross_entropy",),
         cases=_REDUCTIONS + ({"weight": (0.2, 1.0, 3.0, 0.5, 1.0)},),
         invalid=_BAD_REDUCTION, family="classification",
         note="on probabilities; log terms clamped at -100 like torch",
         extra={"input": "probability", "target": "binary"}),
    Spec("bce_with_logits", "loss", L.BCEWithLogitsLoss, nn.BCEWithLogitsLoss,
         aliases=("binary_cross_entropy_with_logits", "bce_logits"),
         cases=_REDUCTIONS + ({"weight": (0.2, 1.0, 3.0, 0.5, 1.0)},
                              {"pos_weight": (2.0, 0.5, 1.0, 4.0, 1.5)},
                              {"weight": (0.2, 1.0, 3.0, 0.5, 1.0),
                               "pos_weight": (2.0, 0.5, 1.0, 4.0, 1.5), "reduction": "sum"}),
         invalid=_BAD_REDUCTION, family="classification",
         note="stable in the logits: (1 - y) x + softplus(-x)", extra={"target": "binary"}),
    Spec("cross_entropy", "loss", L.CrossEntropyLoss, nn.CrossEntropyLoss,
         aliases=("categorical_cross_entropy", "ce"),
         cases=_REDUCTIONS + (
             {"weight": _CLASS_WEIGHT}, {"ignore_index": 2}, {"ignore_index": -100},
             {"weight": _CLASS_WEIGHT, "ignore_index": 1, "reduction": "none"},
             {"label_smoothing": 0.1}, {"label_smoothing": 0.3, "weight": _CLASS_WEIGHT},
             {"label_smoothing": 0.2, "ignore_index": 0, "reduction": "sum"},
             {"_shape": (4, 5, 3, 2)}, {"_shape": (4, 5, 3, 2), "weight": _CLASS_WEIGHT,
                                        "label_smoothing": 0.1, "ignore_index": 3},
             {"_shape": (5,)},
             {"_target": "probability"}, {"_target": "probability", "reduction": "none"},
             {"_target": "probability", "weight": _CLASS_WEIGHT, "label_smoothing": 0.2},
             {"_target": "probability", "_shape": (4, 5, 3, 2), "reduction": "sum"},
         ),
         hyper={"label_smoothing": (0.0, 1.0)},
         invalid=_BAD_REDUCTION + (({"label_smoothing": 1.5}, ValueError),
                                   ({"label_smoothing": -0.1}, ValueError)),
         family="classification",
         note="log-sum-exp of the logits, never log(softmax); index or probability targets",
         extra={"target": "index"}),
    Spec("nll", "loss", L.NLLLoss, nn.NLLLoss, aliases=("nll_loss", "negative_log_likelihood"),
         cases=_REDUCTIONS + ({"weight": _CLASS_WEIGHT}, {"ignore_index": 2},
                              {"weight": _CLASS_WEIGHT, "ignore_index": 4, "reduction": "none"},
                              {"_shape": (4, 5, 3, 2), "weight": _CLASS_WEIGHT}, {"_shape": (5,)}),
         invalid=_BAD_REDUCTION, family="classification",
         note="-w[y] x[y] on log-probabilities; nll(log_softmax(x)) = cross_entropy(x)",
         extra={"input": "log_probability", "target": "index"}),
)

# ---------------------------------------------------------------------------------------------
# Initializers (INVENTORY section 3) — kind "init".
# ---------------------------------------------------------------------------------------------
# extra["law"]: the target distribution ("constant" | "uniform" | "normal") and extra["spread"]:
# (fan_in, fan_out, **case) -> its value, bound or standard deviation, written from INVENTORY's
# formulas (not from nnref.init) for the harness's exact bound/std and KS checks.
# extra["fans"]: whether the initializer needs fans (and so rejects tensors with < 2 dims).
def _gain(kw: Mapping[str, Any]) -> float:
    return nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))


def _mode_fan(fan_in: int, fan_out: int, kw: Mapping[str, Any]) -> int:
    return fan_out if kw.get("mode") == "fan_out" else fan_in


def _uniform_fan_in(tensor: torch.Tensor, generator: torch.Generator | None = None):
    """torch's side of uniform_fan_in: ``uniform_`` with bound 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(nn.init._calculate_fan_in_and_fan_out(tensor)[0])
    return nn.init.uniform_(tensor, -bound, bound, generator=generator)


def _lecun_normal(tensor: torch.Tensor, mode: str = "fan_in",
                  generator: torch.Generator | None = None):
    """torch's side of lecun_normal: Kaiming normal with gain 1."""
    return nn.init.kaiming_normal_(tensor, mode=mode, nonlinearity="linear", generator=generator)


def _lecun_uniform(tensor: torch.Tensor, mode: str = "fan_in",
                   generator: torch.Generator | None = None):
    """torch's side of lecun_uniform: Kaiming uniform with gain 1."""
    return nn.init.kaiming_uniform_(tensor, mode=mode, nonlinearity="linear",
                                    generator=generator)


_BAD_MODE = (({"mode": "fan_avg"}, ValueError),)
_KAIMING_CASES = ({}, {"nonlinearity": "relu"}, {"mode": "fan_out", "nonlinearity": "relu"},
                  {"a": 0.2}, {"nonlinearity": "tanh"}, {"nonlinearity": "selu"})

INITIALIZERS: dict[str, Spec] = _table(
    Spec("zeros", "init", I.zeros_, nn.init.zeros_, aliases=("zero",), family="constant",
         note="w = 0: every unit identical (the symmetry problem)",
         extra={"law": "constant", "spread": lambda fi, fo, **kw: 0.0, "fans": False}),
    Spec("constant", "init", I.constant_, nn.init.constant_,
         cases=({"val": 10.0}, {"val": -10.0}, {"val": 0.01}), family="constant",
         note="w = val; the notes' w = +-10 saturates sigmoids",
         extra={"law": "constant", "spread": lambda fi, fo, **kw: kw["val"], "fans": False}),
    Spec("uniform_fan_in", "init", I.uniform_fan_in_, _uniform_fan_in,
         aliases=("fan_in_uniform", "uniform"), family="heuristic",
         note="U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (seed 000: 1/fan_in); torch.nn.Linear's default",
         extra={"law": "uniform", "spread": lambda fi, fo, **kw: 1 / math.sqrt(fi),
                "fans": True}),
    Spec("xavier_normal", "init", I.xavier_normal_, nn.init.xavier_normal_,
         aliases=("glorot_normal",), cases=({}, {"gain": 5 / 3}), family="glorot",
         note="N(0, 2 gain^2 / (fan_in + fan_out)); for tanh/sigmoid/softmax",
         extra={"law": "normal", "fans": True,
                "spread": lambda fi, fo, **kw: kw.get("gain", 1.0) * math.sqrt(2 / (fi + fo))}),
    Spec("xavier_uniform", "init", I.xavier_uniform_, nn.init.xavier_uniform_,
         aliases=("glorot_uniform",), cases=({}, {"gain": 5 / 3}), family="glorot",
         note="U[+-gain sqrt(6 / (fan_in + fan_out))]",
         extra={"law": "uniform", "fans": True,
                "spread": lambda fi, fo, **kw: kw.get("gain", 1.0) * math.sqrt(6 / (fi + fo))}),
    Spec("he_normal", "init", I.kaiming_normal_, nn.init.kaiming_normal_,
         aliases=("kaiming_normal",), cases=_KAIMING_CASES,
         invalid=_BAD_MODE + (({"nonlinearity": "swish"}, ValueError),), family="he",
         note="N(0, gain^2 / fan), gain sqrt(2) for ReLU; for the ReLU family",
         extra={"law": "normal", "fans": True,
                "spread": lambda fi, fo, **kw: _gain(kw) / math.sqrt(_mode_fan(fi, fo, kw))}),
    Spec("he_uniform", "init", I.kaiming_uniform_, nn.init.kaiming_uniform_,
         aliases=("kaiming_uniform",), cases=_KAIMING_CASES,
         invalid=_BAD_MODE + (({"nonlinearity": "swish"}, ValueError),), family="he",
         note="U[+-gain sqrt(3 / fan)] = U[+-sqrt(6 / fan_in)] for ReLU (seed 000: sqrt6/fan_in)",
         extra={"law": "uniform", "fans": True,
                "spread": lambda fi, fo, **kw: _gain(kw) * math.sqrt(3 / _mode_fan(fi, fo, kw))}),
    Spec("lecun_normal", "init", I.lecun_normal_, _lecun_normal,
         cases=({}, {"mode": "fan_out"}), invalid=_BAD_MODE, family="lecun",
         note="N(0, 1 / fan_in); pair with SELU",
         extra={"law": "normal", "fans": True,
                "spread": lambda fi, fo, **kw: 1 / math.sqrt(_mode_fan(fi, fo, kw))}),
    Spec("lecun_uniform", "init", I.lecun_uniform_, _lecun_uniform,
         cases=({}, {"mode": "fan_out"}), invalid=_BAD_MODE, family="lecun",
         note="U[+-sqrt(3 / fan_in)]",
         extra={"law": "uniform", "fans": True,
                "spread": lambda fi, fo, **kw: math.sqrt(3 / _mode_fan(fi, fo, kw))}),
)

# ---------------------------------------------------------------------------------------------
# Optimizers (INVENTORY section 6) — kind "optim".
# ---------------------------------------------------------------------------------------------
# Cases are keyword sets both the reference and torch.optim accept (the lockstep test runs each
# for 500 steps against the built-in); extra["variants"] are the notes' forms, checked against
# their documented torch equivalent or an independent formula (nnref.verify.optim).
_NEG_LR = ({"lr": -1e-3}, ValueError)
_NEG_WD = ({"weight_decay": -1e-2}, ValueError)
_NEG_EPS = ({"eps": -1e-8}, ValueError)
_NEG_MOMENTUM = ({"momentum": -0.5}, ValueError)
_BAD_BETAS = (({"betas": (1.0, 0.999)}, ValueError), ({"betas": (0.9, 1.0)}, ValueError),
              ({"betas": (-0.1, 0.999)}, ValueError))
_ADAM_HYPER = {"lr": (1e-4, 1e-2), "weight_decay": (0.0, 0.1), "eps": (1e-10, 1e-4)}
_ADAM_CASES = ({}, {"amsgrad": True}, {"weight_decay": 1e-2}, {"betas": (0.8, 0.99), "eps": 1e-6},
               {"maximize": True}, {"amsgrad": True, "weight_decay": 1e-2, "maximize": True})
OPTIMIZERS: dict[str, Spec] = _table(
    Spec("sgd", "optim", O.SGD, torch.optim.SGD, defaults={"lr": 1e-2},
         cases=({}, {"weight_decay": 1e-2}, {"maximize": True},
                {"weight_decay": 1e-2, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_MOMENTUM, ({"nesterov": True}, ValueError)),
         hyper={"lr": (1e-4, 0.1), "weight_decay": (0.0, 0.1)},
         family="sgd", note="w <- w - lr g; batch / mini-batch / stochastic GD by batch size",
         extra={"state_bytes": 0}),
    Spec("momentum", "optim", O.SGD, torch.optim.SGD, aliases=("sgd_momentum",),
         defaults={"lr": 1e-2, "momentum": 0.9},
         cases=({}, {"dampening": 0.5}, {"weight_decay": 1e-2},
                {"dampening": 0.1, "weight_decay": 1e-2, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_MOMENTUM,
                  ({"ema": True, "dampening": 0.5}, ValueError)),
         hyper={"lr": (1e-4, 0.05), "momentum": (0.0, 0.99), "dampening": (0.0, 0.9),
                "weight_decay": (0.0, 0.1)},
         family="sgd", note="torch: b = mu b + g, b_1 = g; ema=True: the notes' "
                            "V = mu V + (1 - mu) g, V_0 = 0",
         extra={"state_bytes": 4, "variants": ({"ema": True},
                                              {"ema": True, "weight_decay": 1e-2})}),
    Spec("nesterov", "optim", O.SGD, torch.optim.SGD, aliases=("nag",),
         defaults={"lr": 1e-2, "momentum": 0.9, "nesterov": True},
         cases=({}, {"weight_decay": 1e-2}, {"weight_decay": 1e-2, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, ({"momentum": 0.0}, ValueError),
                  ({"dampening": 0.1}, ValueError)),
         hyper={"lr": (1e-4, 0.05), "momentum": (0.01, 0.99), "weight_decay": (0.0, 0.1)},
         family="sgd", note="torch's re-parametrised NAG; lookahead=True: the notes' gradient "
                            "at w - mu v (needs a closure)",
         extra={"state_bytes": 4, "variants": ({"nesterov": False, "lookahead": True},)}),
    Spec("adagrad", "optim", O.Adagrad, torch.optim.Adagrad,
         cases=({}, {"lr_decay": 1e-2}, {"weight_decay": 1e-2},
                {"initial_accumulator_value": 0.1},
                {"eps": 1e-3, "lr_decay": 1e-3, "weight_decay": 1e-2,
                 "initial_accumulator_value": 0.1, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, ({"lr_decay": -1.0}, ValueError),
                  ({"initial_accumulator_value": -1.0}, ValueError)),
         hyper={"lr": (1e-4, 0.1), "lr_decay": (0.0, 0.1), "weight_decay": (0.0, 0.1),
                "initial_accumulator_value": (0.0, 1.0), "eps": (1e-10, 1e-3)},
         family="adaptive", note="G += g^2; w -= lr g / (sqrt(G) + eps)",
         extra={"state_bytes": 4}),
    Spec("rmsprop", "optim", O.RMSprop, torch.optim.RMSprop, defaults={"lr": 1e-3},
         cases=({}, {"centered": True}, {"momentum": 0.9}, {"weight_decay": 1e-2},
                {"alpha": 0.9}, {"maximize": True},
                {"centered": True, "momentum": 0.5, "weight_decay": 1e-2, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, _NEG_MOMENTUM, ({"alpha": -0.5}, ValueError)),
         hyper={"lr": (1e-4, 1e-2), "alpha": (0.5, 0.999), "momentum": (0.0, 0.9),
                "weight_decay": (0.0, 0.1), "eps": (1e-10, 1e-3)},
         family="adaptive", note="eps outside the root like torch; eps_inside_sqrt=True: the "
                                 "notes' sqrt(E + eps)",
         extra={"state_bytes": 4,
                "variants": ({"eps_inside_sqrt": True},
                             {"eps_inside_sqrt": True, "centered": True, "momentum": 0.5})}),
    Spec("adam", "optim", O.Adam, torch.optim.Adam, cases=_ADAM_CASES,
         invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, *_BAD_BETAS),
         hyper=_ADAM_HYPER, family="adaptive", note="momentum + RMSProp with bias correction",
         extra={"state_bytes": 8}),
    Spec("adamw", "optim", O.AdamW, torch.optim.AdamW,
         cases=_ADAM_CASES[:3] + ({"weight_decay": 0.1, "maximize": True},
                                  {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, *_BAD_BETAS),
         hyper=_ADAM_HYPER, family="adaptive",
         note="Adam with decoupled weight decay (default 1e-2)",
         extra={"state_bytes": 8}),
    Spec("lars", "optim", O.LARS, None, defaults={"lr": 1.0},
         cases=({}, {"weight_decay": 1e-2}, {"momentum": 0.0},
                {"trust_coefficient": 1e-2, "lr": 0.1},
                {"exclude_bias_and_norm": True, "weight_decay": 1e-2},
                {"maximize": True, "weight_decay": 1e-2}),
         invalid=(_NEG_LR, _NEG_WD, _NEG_EPS, _NEG_MOMENTUM,
                  ({"trust_coefficient": -1e-3}, ValueError)),
         hyper={"lr": (0.1, 2.0), "momentum": (0.0, 0.95), "weight_decay": (0.0, 0.1),
                "trust_coefficient": (1e-4, 1e-2)},
         family="layerwise", note="trust ratio eta |w| / (|g| + wd |w| + eps), 1 at zero norms; "
                                  "no torch built-in",
         extra={"state_bytes": 4}),
)

# ---------------------------------------------------------------------------------------------
# Dropout family (INVENTORY section 4) — kind "dropout".
# ---------------------------------------------------------------------------------------------
# extra["shape"]: the input shape the harness uses (channels on dim 1).
_BAD_P = (({"p": -0.1}, ValueError), ({"p": 1.5}, ValueError))

DROPOUT: dict[str, Spec] = _table(
    Spec("dropout", "dropout", D.Dropout, nn.Dropout,
         cases=({}, {"p": 0.2}, {"p": 0.3, "inplace": True}, {"p": 0.0}, {"p": 1.0},
                {"p": 0.3, "mode": "classic"}),
         hyper={"p": (0.0, 1.0)}, invalid=_BAD_P + (({"mode": "scaled"}, ValueError),),
         family="dropout",
         note="inverted: m x / (1 - p) in training; mode='classic': m x, then (1 - p) x at "
              "inference (notes: 'by p')",
         extra={"shape": (64, 6)}),
    Spec("dropout1d", "dropout", D.Dropout1d, nn.Dropout1d,
         cases=({}, {"p": 0.2}, {"p": 0.3, "inplace": True}), hyper={"p": (0.0, 1.0)},
         invalid=_BAD_P, family="dropout", note="zeroes whole channels of (N, C, L)",
         extra={"shape": (16, 6, 10)}),
    Spec("dropout2d", "dropout", D.Dropout2d, nn.Dropout2d,
         cases=({}, {"p": 0.2}, {"p": 0.3, "inplace": True}), hyper={"p": (0.0, 1.0)},
         invalid=_BAD_P, family="dropout", note="zeroes whole feature maps of (N, C, H, W)",
         extra={"shape": (8, 6, 5, 5)}),
    Spec("alpha_dropout", "dropout", D.AlphaDropout, nn.AlphaDropout,
         cases=({}, {"p": 0.2}, {"p": 0.1, "inplace": True}, {"p": 1.0}),
         hyper={"p": (0.0, 0.9)}, invalid=_BAD_P, family="dropout",
         note="dropped units -> SELU saturation, then affine: keeps mean 0 / variance 1",
         extra={"shape": (64, 6)}),
    Spec("dropconnect", "dropout", D.DropConnectLinear, None,
         aliases=("drop_connect", "dropconnect_linear"),
         cases=({"in_features": 6, "out_features": 4},
                {"in_features": 6, "out_features": 4, "p": 0.2, "bias": False}),
         invalid=(({"in_features": 6, "out_features": 4, "p": 2.0}, ValueError),),
         family="dropout", note="drops weights, not activations; no built-in",
         extra={"shape": (16, 6)}),
)

# ---------------------------------------------------------------------------------------------
# Normalization (INVENTORY section 5) — kind "norm".
# ---------------------------------------------------------------------------------------------
# extra["shapes"]: input shapes the harness runs (channels on dim 1).
_BN_CASES = (
    {"num_features": 6}, {"num_features": 6, "momentum": None},
    {"num_features": 6, "affine": False}, {"num_features": 6, "bias": False},
    {"num_features": 6, "track_running_stats": False},
    {"num_features": 6, "eps": 1e-3, "momentum": 0.5},
)
_BN_INVALID = (
    ({"num_features": 0}, ValueError), ({"num_features": 6, "momentum": 1.5}, ValueError),
    ({"num_features": 6, "eps": 0.0}, ValueError),
)

NORMALIZATION: dict[str, Spec] = _table(
    Spec("batch_norm1d", "norm", N.BatchNorm1d, nn.BatchNorm1d,
         aliases=("batchnorm1d", "bn1d", "batch_norm"), cases=_BN_CASES,
         hyper={"momentum": (0.0, 1.0), "eps": (1e-6, 1e-1)}, invalid=_BN_INVALID,
         family="batch_norm", note="per-feature over (N, C) or (N, C, L); unbiased running var",
         extra={"shapes": ((16, 6), (8, 6, 5))}),
    Spec("batch_norm2d", "norm", N.BatchNorm2d, nn.BatchNorm2d,
         aliases=("batchnorm2d", "bn2d"), cases=_BN_CASES,
         hyper={"momentum": (0.0, 1.0), "eps": (1e-6, 1e-1)}, invalid=_BN_INVALID,
         family="batch_norm", note="per-channel over N, H, W",
         extra={"shapes": ((4, 6, 5, 5),)}),
)

KINDS: dict[str, dict[str, Spec]] = {
    "activation": ACTIVATIONS,
    "loss": LOSSES,
    "init": INITIALIZERS,
    "optim": OPTIMIZERS,
    "dropout": DROPOUT,
    "norm": NORMALIZATION,
}

# Kinds whose entries are built into objects by get(); the others (initializers, optimizers)
# need more arguments (a tensor, the parameters), so get() binds the keyword arguments instead.
_INSTANTIATED = frozenset({"activation", "loss", "dropout", "norm"})


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _kind_table(kind: str) -> dict[str, Spec]:
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownNameError(
            f"unknown registry kind {kind!r}; valid kinds: {', '.join(KINDS)}"
        ) from None


def spec(kind: str, name: str) -> Spec:
    """The :class:`Spec` registered under ``name`` (or one of its aliases) in ``kind``."""
    table = _kind_table(kind)
    key = _canonical(name)
    if key in table:
        return table[key]
    for s in table.values():
        if key in s.aliases:
            return s
    raise UnknownNameError(
        f"unknown {kind} {name!r}; valid names: {', '.join(names(kind))}"
    )


def names(kind: str, aliases: bool = False) -> list[str]:
    """Registered names of ``kind`` (with their aliases if ``aliases``)."""
    table = _kind_table(kind)
    out = list(table)
    if aliases:
        out += [a for s in table.values() for a in s.aliases]
    return out


def get(kind: str, name: str, impl: str = "reference", **kwargs: Any) -> Any:
    """Build the component ``name`` of ``kind`` from the reference or the torch built-in.

    Activations, losses, dropout and normalization layers are instantiated
    (``get("activation", "elu", alpha=0.5)`` is ``nnref.activations.ELU(alpha=0.5)``);
    initializers and optimizers come back with their keyword arguments bound
    (``get("optim", "momentum", lr=0.1)(model.parameters())``).

    Raises:
        UnknownNameError: (a ``KeyError``) for an unknown kind or name, listing the valid ones.
        LookupError: for ``impl="torch"`` on a component torch does not have.
    """
    s = spec(kind, name)
    target = s.target(impl)
    merged = {**s.defaults, **kwargs}
    if kind in _INSTANTIATED:
        return target(**merged)
    return functools.partial(target, **merged)
