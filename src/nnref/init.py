r"""Weight initializers with ``torch.nn.init``'s signatures, plus LeCun and the fan-in heuristic.

Every initializer fills its tensor in place under ``no_grad`` and returns it. The random ones
draw exactly as torch does (one ``normal_(0, std)`` or ``uniform_(-b, b)`` on the tensor with
the given ``generator``), so the same seeded generator gives bit-identical weights.

Fans are computed as torch does: for a weight of shape (out, in, *kernel), with
:math:`k = \prod \text{kernel}` (1 for ``Linear``), :math:`\text{fan\_in} = \text{in}\cdot k`
and :math:`\text{fan\_out} = \text{out}\cdot k`. A uniform :math:`U[-b, b]` has variance
:math:`b^2/3`, so each uniform initializer has the variance of its normal twin.

* ``zeros_``, ``constant_``: every weight 0 or ``val`` (variance 0: all units stay equal, the
  symmetry problem; the notes' :math:`w = \pm 10` saturates sigmoids)
* ``uniform_fan_in_``: :math:`U[\pm 1/\sqrt{\text{fan\_in}}]`, variance
  :math:`1/(3\,\text{fan\_in})`
* ``xavier_normal_``, ``xavier_uniform_``: variance
  :math:`g^2\cdot 2/(\text{fan\_in}+\text{fan\_out})`; the uniform bound is
  :math:`g\sqrt{6/(\text{fan\_in}+\text{fan\_out})}`
* ``kaiming_normal_``, ``kaiming_uniform_``: variance :math:`g^2/\text{fan}`
  (:math:`2/\text{fan\_in}` for ReLU); the uniform bound is :math:`g\sqrt{3/\text{fan}}`
* ``lecun_normal_``, ``lecun_uniform_`` (for SELU): variance :math:`1/\text{fan}`; the uniform
  bound is :math:`\sqrt{3/\text{fan}}`

Aliases: ``glorot_*`` = ``xavier_*``, ``he_*`` = ``kaiming_*``. Where the lecture notes
differ: they write the fan-in heuristic's bound as :math:`1/\text{fan\_in}` and He uniform's
as :math:`\sqrt6/\text{fan\_in}`: this module uses the square roots, whose
variances (above) are what the notes' own rule, equal variance across layers, asks for.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "zeros_", "constant_", "uniform_fan_in_",
    "xavier_normal_", "xavier_uniform_", "kaiming_normal_", "kaiming_uniform_",
    "lecun_normal_", "lecun_uniform_", "glorot_normal_", "glorot_uniform_", "he_normal_",
    "he_uniform_", "init_model",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    r"""The factor :math:`g` that keeps activations' variance through ``nonlinearity``.

    ==============================  ==================================================
    nonlinearity                    gain
    ==============================  ==================================================
    linear, conv*, sigmoid          :math:`1`
    tanh                            :math:`5/3`
    relu                            :math:`\sqrt 2`
    leaky_relu                      :math:`\sqrt{2/(1 + \text{negative\_slope}^2)}`
    selu                            :math:`3/4`
    ==============================  ==================================================

    ReLU zeroes half of a symmetric input, halving the second moment: :math:`g^2 = 2` puts
    it back. For a self-normalising SELU network use LeCun initialization (gain 1), as torch
    advises; the :math:`3/4` is torch's choice for other uses.

    Args:
        nonlinearity (str): the name of the nonlinear function.
        param (float, optional): the negative slope of ``leaky_relu`` (default: None, which
            means 0.01).

    Raises:
        ValueError: for an unknown ``nonlinearity`` or a ``param`` that is not a number.

    Examples::

        >>> calculate_gain("relu") == math.sqrt(2)
        True
        >>> round(calculate_gain("leaky_relu", 0.2), 4)
        1.3868
    """
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain(): argument 'param' (negative_slope) must be a "
                             f"number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain(): unsupported nonlinearity {nonlinearity!r}; valid: "
        f"{', '.join(_LINEAR + ('tanh', 'relu', 'leaky_relu', 'selu'))}"
    )


def fan_in_and_fan_out(tensor: torch.Tensor) -> tuple[int, int]:
    r"""``(fan_in, fan_out)`` of a Linear (out, in) or Conv (out, in, *kernel) weight.

    .. math:: \text{fan\_in} = \text{in}\cdot\prod\text{kernel}, \qquad
        \text{fan\_out} = \text{out}\cdot\prod\text{kernel}

    Args:
        tensor (Tensor): a weight with at least 2 dimensions.

    Raises:
        ValueError: for a tensor with fewer than 2 dimensions (as torch).

    Examples::

        >>> fan_in_and_fan_out(torch.empty(16, 3, 5, 5))  # Conv2d(3, 16, 5)
        (75, 400)
    """
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions "
            f"(argument 'tensor' has shape {tuple(tensor.shape)})"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: torch.Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out "
                         "(argument 'mode')")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _empty(tensor: torch.Tensor) -> bool:
    # torch warns and leaves zero-element tensors alone for the kaiming family.
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _check_gain(gain: float, fn: str) -> None:
    # torch takes a negative gain as a negative spread: uniform_ raises, normal_ says "std"
    if not gain >= 0:
        raise ValueError(f"{fn}(): argument 'gain' must be >= 0, got {gain}")


@torch.no_grad()
def _normal(tensor, std, generator):
    return tensor.normal_(0, std, generator=generator)


@torch.no_grad()
def _uniform(tensor, bound, generator):
    return tensor.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    r"""Fill with :math:`0`.

    All-equal weights get equal gradients, so the units of a layer never become different:
    the notes' symmetry problem. Fine for biases.

    Args:
        tensor (Tensor): the tensor to fill in place (returned).

    Examples::

        >>> zeros_(torch.empty(2, 3)).abs().sum()
        tensor(0.)
    """
    return tensor.zero_()


@torch.no_grad()
def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    r"""Fill with the constant :math:`w = \text{val}`.

    The notes' :math:`w = \pm 10` case: sigmoid units saturate and their gradient vanishes.

    Args:
        tensor (Tensor): the tensor to fill in place (returned).
        val (float): the value.

    Examples::

        >>> constant_(torch.empty(2, 2), 10.0)
        tensor([[10., 10.],
                [10., 10.]])
    """
    return tensor.fill_(val)


def uniform_fan_in_(tensor: torch.Tensor, generator: torch.Generator | None = None
                    ) -> torch.Tensor:
    r"""The classic heuristic :math:`w \sim U[-1/\sqrt{\text{fan\_in}}, 1/\sqrt{\text{fan\_in}}]`.

    .. math:: \operatorname{Var}(w) = \frac{1}{3\,\text{fan\_in}}

    The lecture notes write the bound as :math:`1/\text{fan\_in}`; Glorot & Bengio (2010)
    quote :math:`1/\sqrt{n}`, which is also the bound ``torch.nn.Linear`` uses by default.
    No torch initializer has this name; it equals ``torch.nn.init.uniform_`` with that bound.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        generator (torch.Generator, optional): the generator to draw from (default: None, the
            global one).

    Examples::

        >>> w = uniform_fan_in_(torch.empty(2, 4), generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= 1 / math.sqrt(4))
        True
    """
    fan_in, _ = fan_in_and_fan_out(tensor)
    return _uniform(tensor, 1 / math.sqrt(fan_in), generator)


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Glorot/Xavier uniform: :math:`w \sim U[-a, a]`.

    .. math:: a = g\sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}, \qquad
        \operatorname{Var}(w) = \frac{a^2}{3} = g^2\,\frac{2}{\text{fan\_in} + \text{fan\_out}}

    The variance is the compromise between keeping the forward (:math:`1/\text{fan\_in}`) and
    the backward (:math:`1/\text{fan\_out}`) variance constant, for tanh-like units
    (Glorot & Bengio, 2010). The notes pair it with none/tanh/sigmoid/softmax.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        gain (float, optional): the factor :math:`g \ge 0`, see :func:`calculate_gain`
            (default: 1.0). Negative gains are refused (torch raises only for some).
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = xavier_uniform_(torch.empty(3, 5), generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= math.sqrt(6 / (5 + 3)))
        True
        >>> torch.equal(w, torch.nn.init.xavier_uniform_(
        ...     torch.empty(3, 5), generator=torch.Generator().manual_seed(0)))
        True
    """
    _check_gain(gain, "xavier_uniform_")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _uniform(tensor, math.sqrt(3.0) * std, generator)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Glorot/Xavier normal: :math:`w \sim N(0, \sigma^2)`.

    .. math:: \sigma = g\sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}

    The same variance as :func:`xavier_uniform_`: equal forward and backward variance for
    tanh-like units.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        gain (float, optional): the factor :math:`g \ge 0`, see :func:`calculate_gain`
            (default: 1.0). Negative gains are refused.
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = xavier_normal_(torch.empty(600, 400), generator=torch.Generator().manual_seed(0))
        >>> round(float(w.std()), 3), round(math.sqrt(2 / (400 + 600)), 3)
        (0.045, 0.045)
    """
    _check_gain(gain, "xavier_normal_")
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return _normal(tensor, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
    r"""He/Kaiming uniform: :math:`w \sim U[-b, b]`.

    .. math:: b = g\sqrt{\frac{3}{\text{fan}}}, \qquad
        \operatorname{Var}(w) = \frac{g^2}{\text{fan}}, \qquad
        g = \text{calculate\_gain}(\text{nonlinearity}, a)

    With the defaults (leaky ReLU, :math:`a = 0`, i.e. ReLU) :math:`b = \sqrt{6/\text{fan\_in}}`.
    The notes write :math:`\sqrt6/\text{fan\_in}`, a misprint: it would shrink the variance
    with the square of the fan.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        a (float, optional): the negative slope of the leaky ReLU that follows (default: 0).
        mode (str, optional): ``'fan_in'`` keeps the forward variance, ``'fan_out'`` the
            backward one (default: ``'fan_in'``).
        nonlinearity (str, optional): the nonlinearity that follows, ``'relu'`` or
            ``'leaky_relu'`` as He et al. (default: ``'leaky_relu'``).
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = kaiming_uniform_(torch.empty(8, 6), generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= math.sqrt(6 / 6))
        True
    """
    if _empty(tensor):
        return tensor
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _uniform(tensor, math.sqrt(3.0) * std, generator)


def kaiming_normal_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""He/Kaiming normal: :math:`w \sim N(0, \sigma^2)`.

    .. math:: \sigma = \frac{g}{\sqrt{\text{fan}}}, \qquad
        g = \text{calculate\_gain}(\text{nonlinearity}, a)

    For ReLU, :math:`\sigma^2 = 2/\text{fan\_in}`: the factor 2 undoes the halving of the
    second moment by each ReLU, so the variance stays constant through the layers
    (He et al., 2015). The notes pair it with ReLU and its variants.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        a (float, optional): the negative slope of the leaky ReLU that follows (default: 0).
        mode (str, optional): ``'fan_in'`` keeps the forward variance, ``'fan_out'`` the
            backward one (default: ``'fan_in'``).
        nonlinearity (str, optional): the nonlinearity that follows (default:
            ``'leaky_relu'``).
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = kaiming_normal_(torch.empty(1000, 1000), nonlinearity="relu",
        ...                     generator=torch.Generator().manual_seed(0))
        >>> round(float(w.std()), 4), round(math.sqrt(2 / 1000), 4)
        (0.0447, 0.0447)
    """
    if _empty(tensor):
        return tensor
    fan = _fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _normal(tensor, std, generator)


def lecun_normal_(tensor: torch.Tensor, mode: str = "fan_in",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""LeCun normal, the initializer of self-normalising (SELU) networks: :math:`N(0, \sigma^2)`.

    .. math:: \sigma = \frac{1}{\sqrt{\text{fan}}}

    No torch initializer has this name; it equals
    ``kaiming_normal_(tensor, mode=mode, nonlinearity='linear')``.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        mode (str, optional): ``'fan_in'`` or ``'fan_out'`` (default: ``'fan_in'``).
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = lecun_normal_(torch.empty(500, 400), generator=torch.Generator().manual_seed(0))
        >>> round(float(w.std()), 3), 1 / math.sqrt(400)
        (0.05, 0.05)
    """
    return kaiming_normal_(tensor, mode=mode, nonlinearity="linear", generator=generator)


def lecun_uniform_(tensor: torch.Tensor, mode: str = "fan_in",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""LeCun uniform: :math:`w \sim U[-b, b]`.

    .. math:: b = \sqrt{\frac{3}{\text{fan}}}, \qquad \operatorname{Var}(w) =
        \frac{1}{\text{fan}}

    No torch initializer has this name; it equals
    ``kaiming_uniform_(tensor, mode=mode, nonlinearity='linear')``.

    Args:
        tensor (Tensor): a weight with at least 2 dimensions, filled in place (returned).
        mode (str, optional): ``'fan_in'`` or ``'fan_out'`` (default: ``'fan_in'``).
        generator (torch.Generator, optional): the generator to draw from (default: None).

    Examples::

        >>> w = lecun_uniform_(torch.empty(4, 3), generator=torch.Generator().manual_seed(0))
        >>> bool(w.abs().max() <= 1.0)
        True
    """
    return kaiming_uniform_(tensor, mode=mode, nonlinearity="linear", generator=generator)


glorot_normal_ = xavier_normal_
glorot_uniform_ = xavier_uniform_
he_normal_ = kaiming_normal_
he_uniform_ = kaiming_uniform_


def init_model(model: nn.Module, initializer: Callable[..., torch.Tensor], **kwargs) -> nn.Module:
    r"""Initialize every weight of ``model`` with ``initializer``; biases to zero.

    A weight is any parameter with 2 or more dimensions (Linear, Conv, RNN matrices); they get
    ``initializer(weight, **kwargs)``. Parameters whose name starts with ``bias`` are zeroed.
    One-dimensional non-bias parameters (BatchNorm/LayerNorm scales, PReLU slopes) keep their
    own initialization: fans are undefined for them.

    Args:
        model: the module to initialize in place (returned).
        initializer: an initializer function of this module (:func:`kaiming_normal_` ...) or
            one from ``nnref.registry.get("init", name, **kwargs)``, which resolves names and
            aliases (``'he_normal'``, ``'glorot_uniform'``, ``'lecun_normal'`` ...).
        **kwargs: passed to the initializer (``gain``, ``mode``, ``nonlinearity``, ``val``,
            ``generator`` ...).

    Example::

        >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> _ = init_model(model, kaiming_normal_, nonlinearity="relu")
        >>> float(model[0].bias.abs().sum())
        0.0
    """
    if not callable(initializer):
        raise TypeError(f"init_model(): argument 'initializer' must be callable, got "
                        f"{type(initializer).__name__}; for a name use "
                        f"nnref.registry.get('init', name)")
    for param_name, param in model.named_parameters():
        leaf = param_name.rsplit(".", 1)[-1]
        if leaf.startswith("bias"):
            zeros_(param)
        elif param.dim() >= 2:
            initializer(param, **kwargs)
    return model
