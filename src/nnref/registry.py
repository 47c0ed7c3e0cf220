"""The registry: what each component IS — its name, aliases, reference implementation, torch
built-in, default arguments, family and a one-line note — for every kind of component.

Everything that builds components by name reads it: :func:`get`, :mod:`nnref.swap`, the
experiment stack's config groups and the ``python -m nnref list`` table. How each component is
*tested* lives in :mod:`nnref.verify.cases`, never here. A user's own component joins with
:func:`register` (and :func:`nnref.verify.register` to have it verified as well), called by the
user's code or by an installed package's ``nnref.components`` entry point
(:data:`ENTRY_POINT_GROUP`), which the registry loads the first time it is asked.

Kinds: ``activation``, ``loss``, ``init``, ``optim``, ``dropout``, ``norm``, ``recurrent``.

Example::

    >>> from nnref import registry
    >>> registry.get("activation", "leaky_relu", negative_slope=0.2)
    LeakyReLU(negative_slope=0.2)
    >>> registry.get("activation", "leaky_relu", impl="torch")
    LeakyReLU(negative_slope=0.01)
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nnref import activations as A
from nnref import dropout as D
from nnref import init as I  # noqa: E741
from nnref import losses as L
from nnref import normalization as N
from nnref import optim as O
from nnref import recurrent as R

__all__ = [
    "did_you_mean",
    "Spec",
    "UnknownNameError",
    "ACTIVATIONS",
    "LOSSES",
    "INITIALIZERS",
    "OPTIMIZERS",
    "DROPOUT",
    "NORMALIZATION",
    "RECURRENT",
    "KINDS",
    "ENTRY_POINT_GROUP",
    "get",
    "spec",
    "names",
    "register",
]


@dataclass(frozen=True)
class Spec:
    """One registered component.

    Attributes:
        name: canonical lower-snake-case name (``leaky_relu``).
        kind: one of :data:`KINDS`.
        reference: the nnref implementation (a Module/Optimizer class, or a function for ``init``).
        builtin: the torch counterpart taking the same keyword arguments, or ``None`` when torch
            has none (``impl="torch"`` then raises ``LookupError``).
        aliases: other accepted names (``swish1``, ``glorot_normal`` ...).
        defaults: keyword arguments :func:`get` applies unless overridden (``momentum`` is SGD
            with ``momentum=0.9``).
        family: grouping for docs and reports (``sigmoid``, ``rectifier``, ...).
        note: one line for tables and docs; says where the notes differ.
        output_range: activations: the bounded output interval ``(low, high)`` (sigmoid
            ``(0, 1)``), where the derivative vanishes near either bound; ``None`` when unbounded.
        dies: activations: a unit can die (output <= 0 for every input of a batch leaves it
            zero or only a small negative-side gradient): the rectifier and exponential families.
    """

    name: str
    kind: str
    reference: Callable[..., Any]
    builtin: Callable[..., Any] | None = None
    aliases: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    family: str = ""
    note: str = ""
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

    def build(self, impl: str = "reference", **kwargs: Any) -> Any:
        """This component from ``impl`` with its defaults under ``kwargs``: an instance for the
        kinds built into objects, the class or function with its keyword arguments bound for
        the others (initializers, optimizers)."""
        target = self.target(impl)
        merged = {**self.defaults, **kwargs}
        if self.kind in _INSTANTIATED:
            return target(**merged)
        return functools.partial(target, **merged)


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def _table(*specs: Spec) -> dict[str, Spec]:
    table: dict[str, Spec] = {}
    for s in specs:
        _check_free(table, s)
        table[s.name] = s
    return table


def _taken(table: Mapping[str, Spec]) -> dict[str, str]:
    """Every name and alias of ``table`` -> the canonical name it belongs to."""
    return {n: s.name for s in table.values() for n in (s.name, *s.aliases)}


def _check_free(table: Mapping[str, Spec], new: Spec) -> None:
    taken = _taken(table)
    for n in (new.name, *new.aliases):
        if n in taken:
            raise ValueError(f"{new.kind} name {n!r} is already registered "
                             f"(by {taken[n]!r}); choose another name or alias")


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------
ACTIVATIONS: dict[str, Spec] = _table(
    Spec("identity", "activation", A.Identity, nn.Identity, aliases=("linear", "none"),
         family="linear", note="f(x) = x; the output layer of a regression net"),
    Spec("binary_step", "activation", A.BinaryStep, None, aliases=("heaviside", "step"),
         family="step", note="forward equals torch.heaviside(x, 1); derivative taken as 0 "
                             "everywhere (torch's heaviside has none)"),
    Spec("sigmoid", "activation", A.Sigmoid, nn.Sigmoid, aliases=("logistic",),
         output_range=(0.0, 1.0), family="sigmoid",
         note="f' = f(1 - f) <= 1/4: the cause of vanishing gradients"),
    Spec("tanh", "activation", A.Tanh, nn.Tanh, output_range=(-1.0, 1.0), family="sigmoid",
         note="f' = 1 - f^2 (notes: '1 - tanh x' and 'not differentiable at 0': both wrong)"),
    Spec("softsign", "activation", A.Softsign, nn.Softsign, aliases=("elliotsig",),
         output_range=(-1.0, 1.0), family="sigmoid", note="x / (1 + |x|)"),
    Spec("sqnl", "activation", A.SQNL, None, output_range=(-1.0, 1.0), family="sigmoid",
         note="square nonlinearity; no torch built-in"),
    Spec("relu", "activation", A.ReLU, nn.ReLU, family="rectifier", dies=True,
         note="max(0, x); derivative 0 at 0 as torch"),
    Spec("brelu", "activation", A.BReLU, None, aliases=("bipolar_relu",), family="rectifier",
         dies=True, note="ReLU on even, -ReLU(-x) on odd features; no built-in"),
    Spec("leaky_relu", "activation", A.LeakyReLU, nn.LeakyReLU, family="rectifier", dies=True,
         note="slope * x for x < 0 (notes: '0.01')"),
    Spec("prelu", "activation", A.PReLU, nn.PReLU, family="rectifier", dies=True,
         note="learnable slope a (notes: 'ax + b'); init 0.25"),
    Spec("rrelu", "activation", A.RReLU, nn.RReLU, family="rectifier", dies=True,
         note="slope ~ U(lower, upper) in training, (lower + upper) / 2 in eval"),
    Spec("elu", "activation", A.ELU, nn.ELU, family="exponential", dies=True,
         note="alpha (e^x - 1) for x <= 0"),
    Spec("selu", "activation", A.SELU, nn.SELU, family="exponential", dies=True,
         note="self-normalising; pair with lecun_normal"),
    Spec("apl", "activation", A.APL, None, family="rectifier", dies=True,
         note="adaptive piecewise linear, learnable hinges; no built-in"),
    Spec("bent_identity", "activation", A.BentIdentity, None, family="smooth",
         note="(sqrt(x^2 + 1) - 1) / 2 + x; no built-in"),
    Spec("silu", "activation", A.SiLU, nn.SiLU, aliases=("swish1", "swish_1"), family="gated",
         note="x * sigmoid(x)"),
    Spec("swish", "activation", A.Swish, None, family="gated",
         note="x * sigmoid(beta x), beta fixed or learnable; no built-in"),
    Spec("softplus", "activation", A.Softplus, nn.Softplus, family="smooth",
         note="log(1 + e^x), linear above threshold like torch"),
    Spec("soft_exponential", "activation", A.SoftExponential, None, family="smooth",
         note="learnable alpha interpolates log, identity and exp "
              "(notes' table drops +alpha and writes eps for alpha)"),
    Spec("soft_clipping", "activation", A.SoftClipping, None, output_range=(0.0, 1.0),
         family="smooth", note="smooth clip to (0, 1); notes garble the derivative"),
    Spec("softmax", "activation", A.Softmax, nn.Softmax, family="softmax",
         note="max-subtracted; two classes = sigmoid of the logit difference"),
    Spec("log_softmax", "activation", A.LogSoftmax, nn.LogSoftmax, family="softmax",
         note="x - logsumexp(x)"),
)

# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
LOSSES: dict[str, Spec] = _table(
    Spec("mse", "loss", L.MSELoss, nn.MSELoss, aliases=("mean_squared_error", "l2"),
         family="regression",
         note="mean (x - y)^2; half=True is the notes' 1/2 (y - y_hat)^2 'loss'"),
    Spec("mae", "loss", L.L1Loss, nn.L1Loss, aliases=("l1", "mean_absolute_error"),
         family="regression", note="mean |x - y|; subgradient 0 at 0 like torch"),
    Spec("huber", "loss", L.HuberLoss, nn.HuberLoss, aliases=("smooth_l1_delta",),
         family="regression", note="1/2 e^2 inside delta, linear outside"),
    Spec("rmse", "loss", L.RMSELoss, None, aliases=("root_mean_squared_error",),
         family="regression", note="sqrt(MSE); no built-in; gradient 0 at zero error"),
    Spec("bce", "loss", L.BCELoss, nn.BCELoss, aliases=("binary_cross_entropy",),
         family="classification", note="on probabilities; log terms clamped at -100 like torch"),
    Spec("bce_with_logits", "loss", L.BCEWithLogitsLoss, nn.BCEWithLogitsLoss,
         aliases=("binary_cross_entropy_with_logits", "bce_logits"), family="classification",
         note="stable in the logits: (1 - y) x + softplus(-x)"),
    Spec("cross_entropy", "loss", L.CrossEntropyLoss, nn.CrossEntropyLoss,
         aliases=("categorical_cross_entropy", "ce"), family="classification",
         note="log-sum-exp of the logits, never log(softmax); index or probability targets"),
    Spec("nll", "loss", L.NLLLoss, nn.NLLLoss, aliases=("nll_loss", "negative_log_likelihood"),
         family="classification",
         note="-w[y] x[y] on log-probabilities; nll(log_softmax(x)) = cross_entropy(x)"),
)

# ---------------------------------------------------------------------------------------------
# Initializers. torch has no uniform_fan_in_ (it is nn.Linear's default, reached through
# kaiming_uniform_ with a = sqrt(5)) and no lecun_*: those have no built-in, and impl="torch"
# falls back to the reference in the experiment stack.
# ---------------------------------------------------------------------------------------------
INITIALIZERS: dict[str, Spec] = _table(
    Spec("zeros", "init", I.zeros_, nn.init.zeros_, aliases=("zero",), family="constant",
         note="w = 0: every unit identical (the symmetry problem)"),
    Spec("constant", "init", I.constant_, nn.init.constant_, family="constant",
         note="w = val; the notes' w = +-10 saturates sigmoids"),
    Spec("uniform_fan_in", "init", I.uniform_fan_in_, None,
         aliases=("fan_in_uniform", "uniform"), family="heuristic",
         note="U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (notes: 1/fan_in); torch.nn.Linear's default"),
    Spec("xavier_normal", "init", I.xavier_normal_, nn.init.xavier_normal_,
         aliases=("glorot_normal",), family="glorot",
         note="N(0, 2 gain^2 / (fan_in + fan_out)); for tanh/sigmoid/softmax"),
    Spec("xavier_uniform", "init", I.xavier_uniform_, nn.init.xavier_uniform_,
         aliases=("glorot_uniform",), family="glorot",
         note="U[+-gain sqrt(6 / (fan_in + fan_out))]"),
    Spec("he_normal", "init", I.kaiming_normal_, nn.init.kaiming_normal_,
         aliases=("kaiming_normal",), family="he",
         note="N(0, gain^2 / fan), gain sqrt(2) for ReLU; for the ReLU family"),
    Spec("he_uniform", "init", I.kaiming_uniform_, nn.init.kaiming_uniform_,
         aliases=("kaiming_uniform",), family="he",
         note="U[+-gain sqrt(3 / fan)] = U[+-sqrt(6 / fan_in)] for ReLU (notes: sqrt6/fan_in)"),
    Spec("lecun_normal", "init", I.lecun_normal_, None, family="lecun",
         note="N(0, 1 / fan_in); pair with SELU; torch: kaiming_normal_ with gain 1"),
    Spec("lecun_uniform", "init", I.lecun_uniform_, None, family="lecun",
         note="U[+-sqrt(3 / fan_in)]; torch: kaiming_uniform_ with gain 1"),
)

# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------
OPTIMIZERS: dict[str, Spec] = _table(
    Spec("sgd", "optim", O.SGD, torch.optim.SGD, defaults={"lr": 1e-2}, family="sgd",
         note="w <- w - lr g; batch / mini-batch / stochastic GD by batch size"),
    Spec("momentum", "optim", O.SGD, torch.optim.SGD, aliases=("sgd_momentum",),
         defaults={"lr": 1e-2, "momentum": 0.9}, family="sgd",
         note="torch: b = mu b + g, b_1 = g; ema=True: the notes' V = mu V + (1 - mu) g, V_0 = 0"),
    Spec("nesterov", "optim", O.SGD, torch.optim.SGD, aliases=("nag",),
         defaults={"lr": 1e-2, "momentum": 0.9, "nesterov": True}, family="sgd",
         note="torch's re-parametrised NAG; lookahead=True: the notes' gradient at w - mu v "
              "(needs a closure)"),
    Spec("adagrad", "optim", O.Adagrad, torch.optim.Adagrad, family="adaptive",
         note="G += g^2; w -= lr g / (sqrt(G) + eps)"),
    Spec("rmsprop", "optim", O.RMSprop, torch.optim.RMSprop, defaults={"lr": 1e-3},
         family="adaptive",
         note="eps outside the root like torch; eps_inside_sqrt=True: the notes' sqrt(E + eps)"),
    Spec("adam", "optim", O.Adam, torch.optim.Adam, family="adaptive",
         note="momentum + RMSProp with bias correction"),
    Spec("adamw", "optim", O.AdamW, torch.optim.AdamW, family="adaptive",
         note="Adam with decoupled weight decay (default 1e-2)"),
    Spec("lars", "optim", O.LARS, None, defaults={"lr": 1.0}, family="layerwise",
         note="trust ratio eta |w| / (|g| + wd |w| + eps), 1 at zero norms; no torch built-in"),
)

# ---------------------------------------------------------------------------------------------
# Dropout family
# ---------------------------------------------------------------------------------------------
DROPOUT: dict[str, Spec] = _table(
    Spec("dropout", "dropout", D.Dropout, nn.Dropout, family="dropout",
         note="inverted: m x / (1 - p) in training; mode='classic': m x, then (1 - p) x at "
              "inference (notes: 'by p')"),
    Spec("dropout1d", "dropout", D.Dropout1d, nn.Dropout1d, family="dropout",
         note="zeroes whole channels of (N, C, L)"),
    Spec("dropout2d", "dropout", D.Dropout2d, nn.Dropout2d, family="dropout",
         note="zeroes whole feature maps of (N, C, H, W)"),
    Spec("alpha_dropout", "dropout", D.AlphaDropout, nn.AlphaDropout, family="dropout",
         note="dropped units -> SELU saturation, then affine: keeps mean 0 / variance 1"),
    Spec("dropconnect", "dropout", D.DropConnectLinear, None,
         aliases=("drop_connect", "dropconnect_linear"), family="dropout",
         note="drops weights, not activations; no built-in"),
)

# ---------------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------------
NORMALIZATION: dict[str, Spec] = _table(
    Spec("batch_norm1d", "norm", N.BatchNorm1d, nn.BatchNorm1d,
         aliases=("batchnorm1d", "bn1d", "batch_norm"), family="batch_norm",
         note="per-feature over (N, C) or (N, C, L); unbiased running var"),
    Spec("batch_norm2d", "norm", N.BatchNorm2d, nn.BatchNorm2d,
         aliases=("batchnorm2d", "bn2d"), family="batch_norm", note="per-channel over N, H, W"),
)

# ---------------------------------------------------------------------------------------------
# Recurrent cells and layers
# ---------------------------------------------------------------------------------------------
RECURRENT: dict[str, Spec] = _table(
    Spec("rnn", "recurrent", R.RNN, nn.RNN, aliases=("rnn_tanh", "elman"), family="rnn",
         note="h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); gradients through time vanish "
              "or explode with the spectral radius of W_hh"),
    Spec("rnn_relu", "recurrent", R.RNN, nn.RNN, defaults={"nonlinearity": "relu"},
         family="rnn", note="the Elman RNN with ReLU (nonlinearity='relu')"),
    Spec("lstm", "recurrent", R.LSTM, nn.LSTM, family="gated",
         note="gates i, f, g, o; the cell state's path is scaled by f only (the notes' remedy "
              "for vanishing and exploding gradients); proj_size as torch"),
    Spec("gru", "recurrent", R.GRU, nn.GRU, family="gated",
         note="gates r, z, n with r applied after W_hn h (torch's form; the paper's resets h "
              "first)"),
    Spec("rnn_cell", "recurrent", R.RNNCell, nn.RNNCell, aliases=("rnn_tanh_cell",),
         family="cell", note="one step of the Elman RNN, tanh or relu"),
    Spec("lstm_cell", "recurrent", R.LSTMCell, nn.LSTMCell, family="cell",
         note="one LSTM step: (h, c) -> (h', c')"),
    Spec("gru_cell", "recurrent", R.GRUCell, nn.GRUCell, family="cell", note="one GRU step"),
)

KINDS: dict[str, dict[str, Spec]] = {
    "activation": ACTIVATIONS,
    "loss": LOSSES,
    "init": INITIALIZERS,
    "optim": OPTIMIZERS,
    "dropout": DROPOUT,
    "norm": NORMALIZATION,
    "recurrent": RECURRENT,
}

# Kinds whose entries are built into objects by get(); the others (initializers, optimizers)
# need more arguments (a tensor, the parameters), so get() binds the keyword arguments instead.
_INSTANTIATED = frozenset({"activation", "loss", "dropout", "norm", "recurrent"})


def _canonical(name: str) -> str:
    return name.strip().lower().replace("-", "_")


# Installed packages add components through this entry-point group: each entry names a module
# (importing it registers) or a callable (called with no arguments).
ENTRY_POINT_GROUP = "nnref.components"
_entry_points_loaded = False


def _load_entry_points() -> None:
    """Load every ``nnref.components`` entry point once, the first time the registry is asked
    for a name: a user's package registers its components with no import in the user's code.
    A broken entry point is a warning naming it, never a registry that stops working."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # first: loading registers, which asks the registry again
    import importlib.metadata
    import types
    import warnings

    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if callable(loaded) and not isinstance(loaded, types.ModuleType):
                loaded()
        except Exception as e:  # a third-party package's failure, reported with its name
            warnings.warn(f"nnref: the {ENTRY_POINT_GROUP} entry point {ep.name!r} "
                          f"({ep.value}) failed to load: {type(e).__name__}: {e}",
                          RuntimeWarning, stacklevel=2)


def _kind_table(kind: str) -> dict[str, Spec]:
    _load_entry_points()
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownNameError(
            f"unknown registry kind {kind!r}; valid kinds: {', '.join(KINDS)}"
        ) from None


def did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    """`` (did you mean 'relu'?)`` for the nearest of ``choices``, or ``""``: the hint every
    unknown-name message of nnref (registry, command line, configs) ends with."""
    near = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


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
        f"unknown {kind} {name!r}{did_you_mean(name, names(kind, aliases=True))}; valid names: "
        f"{', '.join(names(kind))}"
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
    return spec(kind, name).build(impl, **kwargs)


def register(new: Spec) -> Spec:
    """Add a user's own component to the registry, so that :func:`get`, :mod:`nnref.swap` and
    the experiment stack know it by name like a built-in one.

    To have ``nnref.verify`` check it too, register it with :func:`nnref.verify.register`
    instead, which calls this and also stores its verification cases.

    Raises:
        UnknownNameError: for an unknown ``new.kind``.
        ValueError: when the name or an alias is not lower-snake-case, or is already taken
            (by a name or an alias) in that kind; the message names it.
    """
    table = _kind_table(new.kind)
    for n in (new.name, *new.aliases):
        if _canonical(n) != n or not n:
            raise ValueError(f"{new.kind} name {n!r} must be lower-snake-case "
                             f"(as {_canonical(n)!r})")
    _check_free(table, new)
    table[new.name] = new
    return new
