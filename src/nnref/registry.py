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
        invalid: ``(kwargs, exception type)`` pairs that construction must reject.
        family: grouping for docs and reports (``sigmoid``, ``rectifier``, ...).
        note: one line for tables and docs; says where the notes differ.
        extra: kind-specific data for the harness (documented by the kind's verifier).
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


class _Heaviside(nn.Module):
    """torch's step function ``torch.heaviside(x, 1)`` as a module (it has no gradient)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.heaviside(input, torch.ones((), dtype=input.dtype, device=input.device))


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
    Spec("sigmoid", "activation", A.Sigmoid, nn.Sigmoid, aliases=("logistic",),
         family="sigmoid", note="f' = f(1 - f) <= 1/4: the cause of vanishing gradients"),
    Spec("tanh", "activation", A.Tanh, nn.Tanh, family="sigmoid",
         note="f' = 1 - f^2 (notes: '1 - tanh x' and 'not differentiable at 0': both wrong)"),
    Spec("softsign", "activation", A.Softsign, nn.Softsign, aliases=("elliotsig",),
         family="sigmoid", note="x / (1 + |x|)"),
    Spec("sqnl", "activation", A.SQNL, None, kinks=(-2.0, 2.0), domain=(-3.0, 3.0),
         family="sigmoid", note="square nonlinearity; no torch built-in"),
    Spec("relu", "activation", A.ReLU, nn.ReLU, cases=({}, {"inplace": True}),
         kinks=_RELU_KINK, family="rectifier", note="max(0, x); derivative 0 at 0 as torch"),
    Spec("brelu", "activation", A.BReLU, None, aliases=("bipolar_relu",), kinks=_RELU_KINK,
         family="rectifier", note="ReLU on even, -ReLU(-x) on odd features; no built-in"),
    Spec("leaky_relu", "activation", A.LeakyReLU, nn.LeakyReLU,
         cases=({}, {"negative_slope": 0.2}, {"negative_slope": 0.1, "inplace": True}),
         kinks=_RELU_KINK, hyper={"negative_slope": (0.0, 0.5)}, family="rectifier",
         note="slope * x for x < 0 (notes: '0.01')"),
    Spec("prelu", "activation", A.PReLU, nn.PReLU,
         cases=({}, {"num_parameters": 6}, {"num_parameters": 6, "init": -0.3}),
         kinks=_RELU_KINK, hyper={"init": (-1.0, 1.0)},
         invalid=(({"num_parameters": 0}, ValueError), ({"num_parameters": -1}, ValueError)),
         family="rectifier", note="learnable slope a (notes: 'ax + b'); init 0.25"),
    Spec("rrelu", "activation", A.RReLU, nn.RReLU,
         cases=({}, {"lower": 0.05, "upper": 0.4}), kinks=_RELU_KINK,
         invalid=(({"lower": 0.5, "upper": 0.1}, ValueError),), family="rectifier",
         note="slope ~ U(lower, upper) in training, (lower + upper) / 2 in eval",
         extra={"stochastic": True}),
    Spec("elu", "activation", A.ELU, nn.ELU,
         cases=({}, {"alpha": 0.5}, {"alpha": -0.5}, {"alpha": 1.0, "inplace": True}),
         kinks=_RELU_KINK, hyper={"alpha": (-2.0, 3.0)}, family="exponential",
         note="alpha (e^x - 1) for x <= 0"),
    Spec("selu", "activation", A.SELU, nn.SELU, cases=({}, {"inplace": True}),
         kinks=_RELU_KINK, family="exponential", note="self-normalising; pair with lecun_normal"),
    Spec("apl", "activation", A.APL, None,
         cases=({"num_features": 6}, {"num_features": 6, "hinges": 3}), kinks=_RELU_KINK,
         invalid=(({"num_features": 0}, ValueError), ({"num_features": 6, "hinges": 0},
                                                       ValueError)),
         family="rectifier", note="adaptive piecewise linear, learnable hinges; no built-in",
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
         family="smooth", note="learnable alpha interpolates log, identity and exp "
                               "(notes' table drops +alpha and writes eps for alpha)"),
    Spec("soft_clipping", "activation", A.SoftClipping, None,
         cases=({}, {"alpha": 5.0}), domain=(-6.0, 6.0), hyper={"alpha": (0.2, 20.0)},
         invalid=(({"alpha": 0.0}, ValueError),),
         family="smooth", note="smooth clip to (0, 1); notes garble the derivative"),
    Spec("softmax", "activation", A.Softmax, nn.Softmax,
         cases=({"dim": 1}, {"dim": -1}, {"dim": 0}), family="softmax",
         note="max-subtracted; two classes = sigmoid of the logit difference"),
    Spec("log_softmax", "activation", A.LogSoftmax, nn.LogSoftmax,
         cases=({"dim": 1}, {"dim": -1}), family="softmax", note="x - logsumexp(x)"),
)

# ---------------------------------------------------------------------------------------------
# Losses (INVENTORY section 2) — kind "loss".
# ---------------------------------------------------------------------------------------------
LOSSES: dict[str, Spec] = _table()

# ---------------------------------------------------------------------------------------------
# Initializers (INVENTORY section 3) — kind "init".
# ---------------------------------------------------------------------------------------------
INITIALIZERS: dict[str, Spec] = _table()

# ---------------------------------------------------------------------------------------------
# Optimizers (INVENTORY section 6) — kind "optim".
# ---------------------------------------------------------------------------------------------
OPTIMIZERS: dict[str, Spec] = _table()

# ---------------------------------------------------------------------------------------------
# Dropout family (INVENTORY section 4) — kind "dropout".
# ---------------------------------------------------------------------------------------------
DROPOUT: dict[str, Spec] = _table()

# ---------------------------------------------------------------------------------------------
# Normalization (INVENTORY section 5) — kind "norm".
# ---------------------------------------------------------------------------------------------
NORMALIZATION: dict[str, Spec] = _table()

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
