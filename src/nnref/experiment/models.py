"""Model builders for the experiments: an MLP and a small CNN assembled from registry names.

Every layer has a stable name (``hidden1.linear``, ``hidden1.act``, ``conv2.conv``, ``out``) so
callbacks can report per-layer gradients and activations. Models are built from the references;
:func:`nnref.experiment.impl.to_impl` swaps them to torch's built-ins under the same names, so a
``state_dict`` moves between the two.

Example::

    >>> from nnref.experiment.models import MLP
    >>> net = MLP(64, 10, width=32, depth=3, activation="tanh", init="xavier_normal")
    >>> [n for n, _ in net.named_children()]
    ['hidden1', 'hidden2', 'hidden3', 'out']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nnref.experiment.errors import ArgumentError, check, choice, is_int, is_number
from nnref.experiment.impl import component
from nnref.init import init_model
from nnref.regularization import GaussianNoise

__all__ = ["MLP", "SmallCNN", "Block", "init_weights", "TIES", "NORMS", "RecurrentClassifier",
           "set_spectral_radius", "RECURRENT_CELLS", "READOUTS",
           "DROPOUT_MODES"]

TIES = ("none", "hidden", "io")
NORMS = (None, "batch")
DROPOUT_MODES = ("inverted", "classic")


def init_weights(model: nn.Module, init: str | None, **kwargs: Any) -> nn.Module:
    """Initialise every weight matrix / kernel of ``model`` with the registry initializer
    ``init`` and biases to 0 (:func:`nnref.init.init_model`); ``init=None`` keeps torch's
    default layer initialisation.

    Raises:
        ArgumentError: naming ``init`` for an unregistered name.
    """
    if init is None:
        return model
    return init_model(model, component("init", init, **kwargs))


def _rate(name: str, value: Any) -> None:
    check(name, value, is_number(value) and 0.0 <= value < 1.0, "in [0, 1)")


def _positive_int(name: str, value: Any) -> None:
    check(name, value, is_int(value) and value >= 1, "an integer >= 1")


def _activation(name: str, features: int, kwargs: Mapping[str, Any] | None) -> nn.Module:
    try:
        return component("activation", name, offer={"num_features": features},
                         **dict(kwargs or {}))
    except ArgumentError as e:
        if e.name == "kwargs":  # named against the activation's own arguments
            raise ArgumentError("activation_kwargs", e.value, reason=e.reason) from None
        raise ArgumentError("activation", e.value, choices=e.choices) from None


def _norm(norm: str | None, features: int, dims: int) -> nn.Module | None:
    if norm is None:
        return None
    return component("norm", f"batch_norm{dims}d", num_features=features)


def _dropout(p: float, mode: str = "inverted") -> nn.Module | None:
    if p == 0:
        return None
    return component("dropout", "dropout", p=p, mode=mode)


def _linear(in_f: int, out_f: int, bias: bool, dropconnect: float) -> nn.Module:
    if dropconnect > 0:
        return component("dropout", "dropconnect", in_features=in_f, out_features=out_f,
                               bias=bias, p=dropconnect)
    return nn.Linear(in_f, out_f, bias=bias)


class Block(nn.Sequential):
    """One hidden layer: ``linear -> [norm] -> act -> [noise] -> [drop]`` with named children
    (the first is called ``layer_name``: ``linear`` or ``conv``).

    With ``residual=True`` the block returns :math:`x + f(x)` (input and output widths equal),
    the skip connection that lets gradients bypass a saturating nonlinearity.
    """

    def __init__(self, linear: nn.Module, act: nn.Module, norm: nn.Module | None = None,
                 drop: nn.Module | None = None, residual: bool = False,
                 layer_name: str = "linear", noise: nn.Module | None = None) -> None:
        super().__init__()
        self.add_module(layer_name, linear)
        if norm is not None:
            self.norm = norm
        self.act = act
        if noise is not None:
            self.noise = noise
        if drop is not None:
            self.drop = drop
        self.residual = residual

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        out = super().forward(input)
        return input + out if self.residual else out

    def extra_repr(self) -> str:
        return "residual=True" if self.residual else ""


class MLP(nn.Module):
    r"""Fully connected network: ``depth`` hidden layers of ``width`` units, then a linear output.

    .. math::
        h_0 = \operatorname{flatten}(x), \quad
        h_l = \operatorname{drop}(f(\operatorname{norm}(W_l h_{l-1} + b_l))) \;
        [+\, h_{l-1} \text{ if residual}], \quad y = W_{out} h_L + b_{out}

    Args:
        in_features: size of the flattened input, or the shape of one sample.
        out_features: number of outputs (classes, labels or regression targets).
        width: units per hidden layer. Default: 64.
        depth: number of hidden layers (>= 1). Default: 2.
        activation: registry name of the hidden nonlinearity. Default: ``"relu"``.
        init: registry name of the weight initializer, or ``None`` for torch's default.
        norm: ``None`` or ``"batch"`` (batch norm between linear map and activation).
        dropout: drop probability after each hidden activation, in ``[0, 1)``. Default: 0.
        dropconnect: drop probability of hidden *weights* (DropConnect), in ``[0, 1)``.
        dropout_mode: ``"inverted"`` (scale kept units by :math:`1/(1-p)` in training, as
            torch) or ``"classic"`` (no scaling in training, outputs times :math:`1-p` at
            inference; always the reference, torch has no such module). Default: inverted.
        noise: std of the Gaussian noise added to each hidden activation in training (noise
            injection, :class:`nnref.regularization.GaussianNoise`), :math:`\ge 0`. Default: 0.
        bias: whether linear layers have a bias. Default: ``True``. Hidden layers followed by
            batch norm never have one: the mean subtraction cancels it, so its gradient is pure
            round-off, which adaptive optimizers (Adam, RMSprop) blow up into steps of size
            ``lr``; batch norm's shift :math:`\beta` plays its role.
        residual: skip connections around hidden layers 2..depth. Default: ``False``.
        tie: weight sharing (the notes' "parameter tying"): ``"none"``; ``"hidden"`` — hidden
            layers 2..depth share one weight matrix; ``"io"`` — the output layer uses the
            transpose of the input layer's weight (needs ``out_features == in_features``, as in
            an autoencoder).
        activation_kwargs / init_kwargs: extra arguments for the activation / initializer.

    Shape:
        - Input: :math:`(N, *)` with :math:`\prod * =` ``in_features``.
        - Output: :math:`(N, \text{out\_features})`.
    """

    def __init__(self, in_features: int | Sequence[int], out_features: int, width: int = 64,
                 depth: int = 2, activation: str = "relu", init: str | None = None,
                 norm: str | None = None, dropout: float = 0.0, dropconnect: float = 0.0,
                 bias: bool = True, residual: bool = False, tie: str = "none",
                 activation_kwargs: Mapping[str, Any] | None = None,
                 init_kwargs: Mapping[str, Any] | None = None, dropout_mode: str = "inverted",
                 noise: float = 0.0) -> None:
        super().__init__()
        if isinstance(in_features, Sequence):
            in_features = math.prod(in_features)
        for key, value in (("in_features", in_features), ("out_features", out_features),
                           ("width", width), ("depth", depth)):
            _positive_int(key, value)
        _rate("dropout", dropout)
        _rate("dropconnect", dropconnect)
        choice("dropout_mode", dropout_mode, DROPOUT_MODES)
        check("noise", noise, is_number(noise) and noise >= 0, ">= 0")
        choice("norm", norm, NORMS)
        choice("tie", tie, TIES)
        if tie == "io" and out_features != in_features:
            raise ValueError(f"tie='io' needs out_features == in_features, got "
                             f"{out_features} and {in_features}")
        self.in_features, self.out_features = in_features, out_features
        self.tie = tie
        shared: nn.Module | None = None
        for i in range(1, depth + 1):
            fan_in = in_features if i == 1 else width
            if tie == "hidden" and i > 2:
                linear = shared
            else:
                linear = _linear(fan_in, width, bias and norm is None, dropconnect)
                if i == 2:
                    shared = linear
            block = Block(linear, _activation(activation, width, activation_kwargs),
                          _norm(norm, width, 1), _dropout(dropout, dropout_mode),
                          residual=residual and i > 1,
                          noise=GaussianNoise(noise) if noise > 0 else None)
            self.add_module(f"hidden{i}", block)
        if tie == "io":
            # the output "layer" borrows hidden1's weight; only its bias is its own
            self.out_bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        else:
            self.out = nn.Linear(width, out_features, bias=bias)
        init_weights(self, init, **dict(init_kwargs or {}))
        self.depth = depth

    def hidden(self) -> list[Block]:
        """The hidden blocks, input side first."""
        return [getattr(self, f"hidden{i}") for i in range(1, self.depth + 1)]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        h = input.flatten(1)
        for block in self.hidden():
            h = block(h)
        if self.tie == "io":
            out = h @ self.hidden1.linear.weight
            return out if self.out_bias is None else out + self.out_bias
        return self.out(h)


class SmallCNN(nn.Module):
    r"""Three convolutional layers then a linear classifier, for 1-D signals or small images.

    The layout follows the MNIST-1D paper's CNN (25 channels; kernel 5, 3, 3; stride 2;
    padding 1) for ``input_shape=(1, L)`` and the same layers in 2-D for ``(1, 8, 8)`` images:

    .. math::
        h_k = \operatorname{drop}(f(\operatorname{norm}(\operatorname{conv}_k(h_{k-1})))),
        \quad y = W\, \operatorname{flatten}(h_3) + b

    Args:
        input_shape: ``(C, L)`` or ``(C, H, W)`` of one sample.
        out_features: number of outputs.
        channels: channels of every conv layer. Default: 25.
        activation, init, norm, dropout, bias, activation_kwargs, init_kwargs: as in
            :class:`MLP` (``norm="batch"`` uses batch norm of the matching dimension, and the
            convolutions then have no bias).

    Shape:
        - Input: :math:`(N, *\text{input\_shape})`, or :math:`(N, L)` for one-channel signals.
        - Output: :math:`(N, \text{out\_features})`.
    """

    KERNELS = (5, 3, 3)

    def __init__(self, input_shape: Sequence[int], out_features: int, channels: int = 25,
                 activation: str = "relu", init: str | None = None, norm: str | None = None,
                 dropout: float = 0.0, bias: bool = True,
                 activation_kwargs: Mapping[str, Any] | None = None,
                 init_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        check("input_shape", input_shape, len(shape) in (2, 3) and min(shape) >= 1,
              "(C, L) or (C, H, W) with positive sizes")
        _positive_int("channels", channels)
        _rate("dropout", dropout)
        choice("norm", norm, NORMS)
        self.input_shape = shape
        dims = len(shape) - 1
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        in_ch, spatial = shape[0], list(shape[1:])
        for k, kernel in enumerate(self.KERNELS, start=1):
            layer = conv(in_ch, channels, kernel, stride=2, padding=1,
                         bias=bias and norm is None)
            spatial = [(s + 2 - kernel) // 2 + 1 for s in spatial]
            if min(spatial) < 1:
                raise ValueError(f"input_shape={shape} is too small for three stride-2 convs")
            block = Block(layer, _activation(activation, channels, activation_kwargs),
                          _norm(norm, channels, dims), _dropout(dropout),
                          layer_name="conv")
            self.add_module(f"conv{k}", block)
            in_ch = channels
        self.out = nn.Linear(channels * math.prod(spatial), out_features, bias=bias)
        init_weights(self, init, **dict(init_kwargs or {}))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        h = input.unsqueeze(1) if input.dim() == len(self.input_shape) else input
        for k in range(1, len(self.KERNELS) + 1):
            h = getattr(self, f"conv{k}")(h)
        return self.out(h.flatten(1))


# ---------------------------------------------------------------------------------------------
# Recurrent
# ---------------------------------------------------------------------------------------------
RECURRENT_CELLS = ("rnn", "rnn_relu", "lstm", "gru")
READOUTS = ("last", "all")


def set_spectral_radius(layer: nn.Module, radius: float) -> nn.Module:
    r"""Scale every recurrent matrix of ``layer`` (each gate's square block of each
    ``weight_hh_l*``) so its spectral radius :math:`\max_i |\lambda_i(W_{hh})|` is ``radius``:
    below 1 a plain RNN's gradient through time shrinks step by step, above 1 it can grow.
    Returns ``layer``."""
    with torch.no_grad():
        for name, w in layer.named_parameters():
            if name.startswith("weight_hh"):
                for block in w.split(w.shape[1], 0):
                    rho = torch.linalg.eigvals(block.double()).abs().max()
                    block.mul_(radius / float(rho))
    return layer


class RecurrentClassifier(nn.Module):
    r"""Reads a sample as a sequence and classifies it from the recurrent outputs: an
    ``nnref.recurrent`` layer (``batch_first``) and a linear readout.

    .. math::
        h_t = \operatorname{cell}(x_t, h_{t-1}), \quad
        y = W\, h_T + b \;\text{ (readout "last")}, \quad
        y = W\, [h_1; \dots; h_T] + b \;\text{ (readout "all")}

    ``readout="all"`` with a bidirectional GRU of 6 units is the MNIST-1D paper's GRU
    baseline (its ``GRUBase``: 40 steps of one value, the linear map reads every step's
    output); ``"last"`` makes the final state carry everything, as the memory task needs.

    Args:
        input_shape: ``(T,)`` (one value per step, e.g. a 1-D signal) or ``(T, F)``.
        out_features: classes.
        cell: registry name of a recurrent layer: ``rnn`` (tanh), ``rnn_relu``, ``lstm``,
            ``gru``. Default: ``"lstm"``.
        hidden: units per direction. Default: 32.
        num_layers, bidirectional: as the layer's. Default: 1, ``False``.
        readout: ``"last"`` or ``"all"``. Default: ``"last"``.
        radius: scale the recurrent matrices to this spectral radius
            (:func:`set_spectral_radius`), or ``None`` for torch's initialisation.
        init, init_kwargs: registry initializer of every weight matrix (biases zeroed), or
            ``None`` for torch's :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`; applied before ``radius``.

    Shape:
        - Input: :math:`(N, T)` or :math:`(N, T, F)`. Output: :math:`(N, \text{out\_features})`.

    Example::

        >>> net = RecurrentClassifier((40,), 10, cell="gru", hidden=6, bidirectional=True,
        ...                           readout="all")
        >>> net(torch.randn(3, 40)).shape
        torch.Size([3, 10])
    """

    def __init__(self, input_shape: Sequence[int], out_features: int, cell: str = "lstm",
                 hidden: int = 32, num_layers: int = 1, bidirectional: bool = False,
                 readout: str = "last", radius: float | None = None, init: str | None = None,
                 init_kwargs: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        check("input_shape", input_shape, len(shape) in (1, 2) and min(shape) >= 1,
              "(T,) or (T, F) with positive sizes")
        choice("cell", cell, RECURRENT_CELLS)
        _positive_int("hidden", hidden)
        _positive_int("num_layers", num_layers)
        choice("readout", readout, READOUTS)
        check("radius", radius, radius is None or (is_number(radius) and radius > 0),
              "a number > 0, or null")
        self.input_shape = shape
        features = shape[1] if len(shape) == 2 else 1
        self.rnn = component("recurrent", cell, input_size=features, hidden_size=hidden,
                             num_layers=num_layers, bidirectional=bidirectional,
                             batch_first=True)
        self.readout = readout
        width = hidden * (2 if bidirectional else 1)
        self.out = nn.Linear(width * (shape[0] if readout == "all" else 1), out_features)
        init_weights(self, init, **dict(init_kwargs or {}))
        if radius is not None:
            set_spectral_radius(self.rnn, radius)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        x = input.unsqueeze(-1) if input.dim() == 2 else input
        output, _ = self.rnn(x)
        return self.out(output.flatten(1) if self.readout == "all" else output[:, -1])
