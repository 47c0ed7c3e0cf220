r"""Recurrent cells and layers — Elman RNN (tanh / ReLU), LSTM and GRU — composed of nnref's own
activations, initialised with nnref's initializer, with torch's names, arguments, parameter names
and return values, so a ``state_dict`` moves between ``torch.nn.LSTM`` and :class:`LSTM` (and
the others) both ways.

A layer is unrolled in time: step :math:`t` maps the input :math:`x_t` and the previous state
:math:`h_{t-1}` to :math:`h_t`, and backpropagation through time multiplies the Jacobians of the
steps. For the Elman RNN :math:`h_t = \phi(a_t)`, :math:`a_t = W_{ih} x_t + b_{ih} + W_{hh}
h_{t-1} + b_{hh}`:

.. math::
    \frac{\partial L}{\partial h_{t-1}} = W_{hh}^\top\Big(\phi'(a_t) \odot
    \frac{\partial L}{\partial h_t}\Big) + \frac{\partial \ell_{t-1}}{\partial h_{t-1}},
    \qquad
    \Big\|\frac{\partial h_T}{\partial h_t}\Big\| \le \prod_{k=t+1}^{T}
    \|\operatorname{diag}\phi'(a_k)\|\,\|W_{hh}\| \le (\gamma\,\|W_{hh}\|)^{T-t}

with :math:`\gamma = \sup|\phi'|` (1 for tanh and ReLU): below the edge (:math:`\gamma\|W_{hh}\|
< 1`) the gradient vanishes geometrically in :math:`T - t`, above it may explode (Bengio, Simard
& Frasconi 1994; Pascanu, Mikolov & Bengio 2013). The LSTM's cell state and the GRU's
interpolation add a path whose Jacobian is the diagonal gate :math:`f_t` (:math:`z_t`), which
the network can hold near 1.

Exactness: each step is formed as torch's CPU kernels form it (``aten/src/ATen/native/RNN.cpp``):
the input projection :math:`W_{ih} x_t + b_{ih}` for the whole sequence in one ``linear``, then
per step ``linear(h, W_hh, b_hh) + that``, the gates as chunks of the sum, so float64 results
agree with torch to a few ulps. Packed sequences are not implemented and are refused.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from nnref import activations as A
from nnref.dropout import dropout as _dropout
from nnref.init import _uniform

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_NONLINEARITY = {"tanh": A.tanh, "relu": A.relu}


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    # at::linear, as torch's cells call it: one fused addmm for a 2-d or contiguous 3-d input
    # with a bias, matmul then add otherwise; any other grouping rounds differently.
    return F.linear(x, w, b)


# --- one step of each cell: ``gx`` is the input projection W_ih x + b_ih of this step ---------
def _simple_step(gx, h, w_hh, b_hh, phi):
    return phi(_linear(h, w_hh, b_hh) + gx)


def _lstm_step(gx, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (_linear(h, w_hh, b_hh) + gx).chunk(4, 1)
    i, f, g, o = A.sigmoid(i), A.sigmoid(f), A.tanh(g), A.sigmoid(o)
    c = f * c + i * g
    h = o * A.tanh(c)
    return (h if w_hr is None else torch.matmul(h, w_hr.t())), c


def _gru_step(gx, h, w_hh, b_hh):
    ir, iz, in_ = gx.chunk(3, 1)
    hr, hz, hn = _linear(h, w_hh, b_hh).chunk(3, 1)
    r = A.sigmoid(hr + ir)
    z = A.sigmoid(hz + iz)
    n = A.tanh(in_ + hn * r)
    return (h - n) * z + n


def _step_fn(mode: str):
    if mode == "LSTM":
        return _lstm_step
    if mode == "GRU":
        return _gru_step
    phi = _NONLINEARITY["tanh" if mode == "RNN_TANH" else "relu"]
    return lambda gx, h, w_hh, b_hh: _simple_step(gx, h, w_hh, b_hh, phi)


def _check_sizes(input_size, hidden_size) -> None:
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name} must be greater than zero")


def _check_nonlinearity(nonlinearity) -> None:
    if nonlinearity not in _NONLINEARITY:
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


def _refuse_packed(input, who: str) -> None:
    if isinstance(input, nn.utils.rnn.PackedSequence):
        raise TypeError(f"{who}: argument 'input' is a PackedSequence, which nnref's reference "
                        "does not implement; pass the padded tensor "
                        "(torch.nn.utils.rnn.pad_packed_sequence) or use torch's module")


# ---------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------
class _CellBase(nn.Module):
    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        # bias is not type-checked: torch's cells take any truthy value (module_db passes
        # RNNCell(10, 20, 'relu'), a bias of 'relu'), its layers refuse non-bools
        _check_sizes(input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(num_chunks * hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(num_chunks * hidden_size, hidden_size,
                                                  **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(num_chunks * hidden_size, **factory))
            self.bias_hh = nn.Parameter(torch.empty(num_chunks * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        r"""Every weight and bias from :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`, in registration order,
        as torch (the same global-RNG draws, so the same seed gives the same parameters)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for weight in self.parameters():
                _uniform(weight, bound, None)

    def _batch(self, input: torch.Tensor, states, who: str, names) -> tuple:
        """Checks as torch's cell kernels make them; 1-d (unbatched) input made a batch of one."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{who}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for name, s in zip(names, states, strict=True):
            if s is not None and s.dim() not in (1, 2):
                raise ValueError(f"{who}: Expected {name} to be 1D or 2D, got {s.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        states = [s if s is None or batched else s.unsqueeze(0) for s in states]
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} "
                               f"expected {self.input_size}")
        for i, s in enumerate(states):
            if s is None:
                continue
            if input.size(0) != s.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{i} "
                                   f"batch size {s.size(0)}")
            if s.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.size(1)}, "
                                   f"expected {self.hidden_size}")
        zeros = input.new_zeros(input.size(0), self.hidden_size)
        return input, [zeros if s is None else s for s in states], batched

    def _project(self, input: torch.Tensor) -> torch.Tensor:
        return _linear(input, self.weight_ih, self.bias_ih)


class RNNCell(_CellBase):
    r"""An Elman RNN cell with tanh or ReLU non-linearity, built from :func:`nnref.activations.tanh`
    / :func:`~nnref.activations.relu`.

    .. math::
        a = W_{ih} x + b_{ih} + W_{hh} h + b_{hh}, \qquad h' = \phi(a)

        \frac{\partial L}{\partial a} = \phi'(a) \odot \frac{\partial L}{\partial h'}, \quad
        \frac{\partial L}{\partial h} = W_{hh}^\top \frac{\partial L}{\partial a}, \quad
        \frac{\partial L}{\partial x} = W_{ih}^\top \frac{\partial L}{\partial a}, \quad
        \frac{\partial L}{\partial W_{hh}} = \frac{\partial L}{\partial a}\, h^\top, \quad
        \frac{\partial L}{\partial b_{hh}} = \frac{\partial L}{\partial a}

    with :math:`\phi' = 1 - h'^2` for tanh and :math:`\phi' = [a > 0]` for ReLU (0 at 0, as torch).

    Args:
        input_size (int): features of the input :math:`x`.
        hidden_size (int): features of the hidden state :math:`h`.
        bias (bool, optional): use the biases :math:`b_{ih}, b_{hh}`. Default: ``True``
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``. Default: ``'tanh'``
        device, dtype: of the parameters. Default: ``None``

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; hidden :math:`(N, H_{out})` or
          :math:`(H_{out})`, zeros when not given.
        - Output: :math:`(N, H_{out})` or :math:`(H_{out})`, the next hidden state.

    Attributes: ``weight_ih`` :math:`(H_{out}, H_{in})`, ``weight_hh`` :math:`(H_{out},
    H_{out})`, ``bias_ih``, ``bias_hh`` :math:`(H_{out})`, all drawn from
    :math:`U(-1/\sqrt{H_{out}}, 1/\sqrt{H_{out}})`.

    Examples::

        >>> import torch, nnref
        >>> cell = nnref.recurrent.RNNCell(3, 4)
        >>> x, h = torch.randn(2, 3), torch.randn(2, 4)
        >>> theirs = torch.nn.RNNCell(3, 4)
        >>> _ = theirs.load_state_dict(cell.state_dict())
        >>> torch.testing.assert_close(cell(x, h), theirs(x, h))
        >>> cell(x).shape
        torch.Size([2, 4])
    """

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        input, (h,), batched = self._batch(input, [hx], "RNNCell", ["hidden"])
        out = _simple_step(self._project(input), h, self.weight_hh, self.bias_hh,
                           _NONLINEARITY[self.nonlinearity])
        return out if batched else out.squeeze(0)


class LSTMCell(_CellBase):
    r"""A long short-term memory cell (Hochreiter & Schmidhuber 1997, with the forget gate of
    Gers et al. 2000), built from :func:`nnref.activations.sigmoid` and
    :func:`~nnref.activations.tanh`. Gates in torch's order :math:`i, f, g, o`:

    .. math::
        \begin{array}{ll}
        [a_i; a_f; a_g; a_o] = W_{ih} x + b_{ih} + W_{hh} h + b_{hh} \\
        i = \sigma(a_i), \; f = \sigma(a_f), \; g = \tanh(a_g), \; o = \sigma(a_o) \\
        c' = f \odot c + i \odot g, \qquad h' = o \odot \tanh(c')
        \end{array}

    and with :math:`\delta h' = \partial L/\partial h'`, :math:`\delta c'` the gradient reaching
    :math:`c'` from later steps:

    .. math::
        \begin{array}{ll}
        \delta c = \delta h' \odot o \odot (1 - \tanh^2 c') + \delta c', \qquad
        \frac{\partial L}{\partial c} = f \odot \delta c \\
        \delta a_o = \delta h' \odot \tanh c' \odot o(1 - o), \quad
        \delta a_i = \delta c \odot g \odot i(1 - i) \\
        \delta a_f = \delta c \odot c \odot f(1 - f), \quad
        \delta a_g = \delta c \odot i \odot (1 - g^2) \\
        \frac{\partial L}{\partial h} = W_{hh}^\top \delta a, \qquad
        \frac{\partial L}{\partial x} = W_{ih}^\top \delta a
        \end{array}

    The cell-to-cell Jacobian :math:`\partial c'/\partial c = \operatorname{diag}(f)` (through
    the cell state alone) is the "constant error carousel": with :math:`f \approx 1` the
    gradient crosses many steps without the factor :math:`W_{hh}` that makes an RNN's vanish.

    Args:
        input_size (int): features of the input :math:`x`.
        hidden_size (int): features of :math:`h` and :math:`c`.
        bias (bool, optional): use the biases :math:`b_{ih}, b_{hh}`. Default: ``True``
        device, dtype: of the parameters. Default: ``None``

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; hx: a tuple ``(h, c)`` of
          :math:`(N, H)` or :math:`(H)` each, zeros when not given.
        - Output: ``(h', c')``, each of :math:`(N, H)` or :math:`(H)`.

    Attributes: ``weight_ih`` :math:`(4H, H_{in})`, ``weight_hh`` :math:`(4H, H)`, ``bias_ih``,
    ``bias_hh`` :math:`(4H)`, from :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`.

    Examples::

        >>> import torch, nnref
        >>> cell = nnref.recurrent.LSTMCell(3, 4)
        >>> theirs = torch.nn.LSTMCell(3, 4)
        >>> _ = theirs.load_state_dict(cell.state_dict())
        >>> x, hc = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
        >>> torch.testing.assert_close(cell(x, hc), theirs(x, hc))
        >>> [t.shape for t in cell(x[0])]
        [torch.Size([4]), torch.Size([4])]
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        states = [None, None] if hx is None else list(hx)
        input, states, batched = self._batch(input, states, "LSTMCell", ["hx[0]", "hx[1]"])
        h, c = _lstm_step(self._project(input), states, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    r"""A gated recurrent unit cell (Cho et al. 2014), built from
    :func:`nnref.activations.sigmoid` and :func:`~nnref.activations.tanh`. Gates in torch's
    order :math:`r, z, n`, with the reset gate applied *after* the recurrent product (torch's
    and cuDNN's form; the paper resets :math:`h` before it):

    .. math::
        \begin{array}{ll}
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}) \\
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}) \\
        n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})) \\
        h' = (1 - z) \odot n + z \odot h
        \end{array}

    and with :math:`\delta = \partial L/\partial h'`:

    .. math::
        \begin{array}{ll}
        \delta a_n = \delta \odot (1 - z) \odot (1 - n^2), \quad
        \delta a_z = \delta \odot (h - n) \odot z(1 - z) \\
        \delta a_r = \delta a_n \odot (W_{hn} h + b_{hn}) \odot r(1 - r) \\
        \frac{\partial L}{\partial h} = z \odot \delta + W_{hr}^\top \delta a_r
            + W_{hz}^\top \delta a_z + W_{hn}^\top (r \odot \delta a_n)
        \end{array}

    The direct term :math:`z \odot \delta` carries the gradient across a step unchanged
    wherever :math:`z \approx 1`.

    Args:
        input_size (int): features of the input :math:`x`.
        hidden_size (int): features of :math:`h`.
        bias (bool, optional): use the biases :math:`b_{ih}, b_{hh}`. Default: ``True``
        device, dtype: of the parameters. Default: ``None``

    Shape:
        - input: :math:`(N, H_{in})` or :math:`(H_{in})`; hidden :math:`(N, H)` or :math:`(H)`,
          zeros when not given.
        - Output: :math:`(N, H)` or :math:`(H)`.

    Attributes: ``weight_ih`` :math:`(3H, H_{in})`, ``weight_hh`` :math:`(3H, H)`, ``bias_ih``,
    ``bias_hh`` :math:`(3H)`, from :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`.

    Examples::

        >>> import torch, nnref
        >>> cell = nnref.recurrent.GRUCell(3, 4)
        >>> theirs = torch.nn.GRUCell(3, 4)
        >>> _ = theirs.load_state_dict(cell.state_dict())
        >>> x, h = torch.randn(2, 3), torch.randn(2, 4)
        >>> torch.testing.assert_close(cell(x, h), theirs(x, h))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        input, (h,), batched = self._batch(input, [hx], "GRUCell", ["hidden"])
        out = _gru_step(self._project(input), h, self.weight_hh, self.bias_hh)
        return out if batched else out.squeeze(0)


# ---------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------
class _RNNBase(nn.Module):
    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"]

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        _check_sizes(input_size, hidden_size)
        if not isinstance(batch_first, bool):
            raise TypeError(
                f"batch_first should be of type bool, got: {type(batch_first).__name__}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        factory = {"device": device, "dtype": dtype}
        gates = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        # A list here asks the next forward to keep the last layer's states h_1..h_T (forward
        # direction) with their gradients retained: dL/dh_t, for measuring gradients through
        # time (nnref.experiment.lit.GradientThroughTime). None: nothing kept.
        self.kept_states: list[torch.Tensor] | None = None
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                layer_input = input_size if layer == 0 else real_hidden * self.num_directions
                shapes = [("weight_ih", (gates, layer_input)), ("weight_hh", (gates, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gates,)), ("bias_hh", (gates,))]
                if proj_size > 0:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                suffix = "_reverse" if direction == 1 else ""
                names = []
                for stem, shape in shapes:
                    name = f"{stem}_l{layer}{suffix}"
                    setattr(self, name, nn.Parameter(torch.empty(shape, **factory)))
                    names.append(name)
                self._flat_weights_names += names
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters per layer and direction, as torch's ``all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """Does nothing: the reference keeps no flat weight buffer (torch's is for cuDNN). Kept
        so code that calls it on torch's module runs unchanged."""

    def reset_parameters(self) -> None:
        r"""Every parameter from :math:`U(-1/\sqrt{H}, 1/\sqrt{H})`, in registration order, as
        torch (the same draws from the global RNG, so the same seed gives the same weights)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for weight in self.parameters():
                _uniform(weight, bound, None)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # --- forward ------------------------------------------------------------------------------
    def _prepare(self, input, hx, who: str):
        """(input as (T, N, H_in), states as a list of (L D, N, H) tensors or None, batched),
        with torch's checks and messages."""
        _refuse_packed(input, who)
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{who}: argument 'input' must be a Tensor, not "
                            f"{type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{who}: Expected input to be 2D or 3D, got {input.dim()}D "
                             f"{'tensor ' if who == 'RNN' else ''}instead")
        batched = input.dim() == 3
        states = list(hx) if isinstance(hx, (tuple, list)) else [hx]
        if any(s is not None for s in states):
            want = 3 if batched else 2
            if any(s.dim() != want for s in states):
                dims = ", ".join(f"{s.dim()}-D" for s in states)
                kind = "batched 3-D" if batched else "unbatched 2-D"
                if len(states) == 2:
                    raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D "
                                       f"but got ({dims}) tensors")
                raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got "
                                   f"{dims} tensor")
            if not batched:
                states = [s.unsqueeze(1) for s in states]
        if not batched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        if input.dtype != self.weight_ih_l0.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype "
                f"({self.weight_ih_l0.dtype}). Convert input: input.to({self.weight_ih_l0.dtype})"
                f", or convert model: model.to({input.dtype})")
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {input.size(-1)}")
        if self.batch_first:
            input = input.transpose(0, 1)
        n = input.size(1)
        sizes = [self.proj_size or self.hidden_size, self.hidden_size][:len(states)]
        for i, (s, size) in enumerate(zip(states, sizes, strict=True)):
            want = (self.num_layers * self.num_directions, n, size)
            if s is not None and tuple(s.shape) != want:
                which = f"hidden[{i}] size" if len(states) == 2 else "hidden size"
                raise RuntimeError(f"Expected {which} {want}, got {list(s.shape)}")
        if input.size(0) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        states = [input.new_zeros(self.num_layers * self.num_directions, n, size) if s is None
                  else s for s, size in zip(states, sizes, strict=True)]
        return input, states, batched

    def _run(self, input: torch.Tensor, states: list[torch.Tensor]):
        """The stacked layers over the (T, N, H_in) input: (output, final states)."""
        step = _step_fn(self.mode)
        finals: list[list[torch.Tensor]] = [[] for _ in states]
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                w = [getattr(self, name) for name in self._all_weights[k]]
                w_ih, w_hh = w[0], w[1]
                b_ih, b_hh = (w[2], w[3]) if self.bias else (None, None)
                extra = (w[-1],) if self.proj_size > 0 else ()
                gx = _linear(layer_input, w_ih, b_ih).unbind(0)
                state = tuple(s[k] for s in states)
                state = state if len(state) == 2 else state[0]
                out = []
                keep = (self.kept_states is not None and direction == 0
                        and layer == self.num_layers - 1 and torch.is_grad_enabled())
                for t in (reversed(range(len(gx))) if direction == 1 else range(len(gx))):
                    state = step(gx[t], state, w_hh, b_hh, *extra)
                    out.append(state[0] if isinstance(state, tuple) else state)
                    if keep and out[-1].requires_grad:
                        out[-1].retain_grad()
                        self.kept_states.append(out[-1])
                if direction == 1:
                    out.reverse()
                outputs.append(torch.stack(out, 0))
                for f, s in zip(finals, state if isinstance(state, tuple) else (state,),
                                strict=True):
                    f.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, -1)
            if self.dropout != 0 and self.training and layer < self.num_layers - 1:
                layer_input = _dropout(layer_input, self.dropout, True)
        return layer_input, [torch.stack(f, 0) for f in finals]

    def _finish(self, output, finals, batched):
        if self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(0 if self.batch_first else 1)
            finals = [f.squeeze(1) for f in finals]
        return output, finals


_LAYER_ARGS = r"""
    Args:
        input_size (int): features of the input :math:`x_t`.
        hidden_size (int): features of the hidden state :math:`h_t`.
        num_layers (int, optional): stacked layers, each reading the previous one's outputs.
            Default: 1"""
_LAYER_TAIL = r"""
        bias (bool, optional): use the biases :math:`b_{ih}, b_{hh}`. Default: ``True``
        batch_first (bool, optional): input and output as :math:`(N, L, H)` instead of
            :math:`(L, N, H)` (the hidden states are not affected). Default: ``False``
        dropout (float, optional): dropout (:func:`nnref.dropout.dropout`, the same mask as
            torch's for the same seed on CPU) on the outputs of every layer but the last, in
            training. Default: 0
        bidirectional (bool, optional): a second layer reads the sequence backwards; the
            outputs of the two are concatenated. Default: ``False``"""
_LAYER_SHAPE = r"""
    Shape:
        - input: :math:`(L, N, H_{in})`, :math:`(N, L, H_{in})` with ``batch_first``, or
          :math:`(L, H_{in})` unbatched. A ``PackedSequence`` is refused (``TypeError``).
        - hx: :math:`(D \cdot \text{num\_layers}, N, H_{out})` or :math:`(D \cdot
          \text{num\_layers}, H_{out})` unbatched, :math:`D = 2` if bidirectional else 1;
          zeros when not given.
        - output: :math:`(L, N, D H_{out})` (``batch_first``: :math:`(N, L, D H_{out})`), the
          last layer's :math:`h_t` for every :math:`t`; h_n: the final state of every layer and
          direction, shaped as hx."""


class RNN(_RNNBase):
    __doc__ = r"""A multi-layer Elman RNN with tanh or ReLU, built from :class:`RNNCell`'s step.

    For every layer and time step:

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

        \frac{\partial L}{\partial h_{t-1}} = W_{hh}^\top\big(\phi'(a_t) \odot
        \frac{\partial L}{\partial h_t}\big) + \frac{\partial \ell_{t-1}}{\partial h_{t-1}},
        \qquad \phi'(a) = 1 - \tanh^2 a \;\text{ or }\; [a > 0]

    so :math:`\partial h_T/\partial h_t` is a product of :math:`T - t` factors
    :math:`\operatorname{diag}\phi'(a_k) W_{hh}`: it vanishes when the spectral radius of
    :math:`W_{hh}` is below 1 and tanh saturates, and can explode above 1.
""" + _LAYER_ARGS + r"""
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``. Default: ``'tanh'``""" \
        + _LAYER_TAIL + r"""
        device, dtype: of the parameters. Default: ``None``
""" + _LAYER_SHAPE + r"""

    Returns ``(output, h_n)``. Parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` (``_reverse`` for the backward direction), as torch's.

    Examples::

        >>> import torch, nnref
        >>> rnn = nnref.recurrent.RNN(3, 5, num_layers=2, nonlinearity="relu")
        >>> theirs = torch.nn.RNN(3, 5, num_layers=2, nonlinearity="relu")
        >>> _ = theirs.load_state_dict(rnn.state_dict())
        >>> x, h0 = torch.randn(7, 2, 3), torch.randn(2, 2, 5)
        >>> out, h_n = rnn(x, h0)
        >>> out.shape, h_n.shape
        (torch.Size([7, 2, 5]), torch.Size([2, 2, 5]))
        >>> torch.testing.assert_close((out, h_n), theirs(x, h0))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        _check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        input, states, batched = self._prepare(input, hx, "RNN")
        output, (h_n,) = self._finish(*self._run(input, states), batched)
        return output, h_n


class LSTM(_RNNBase):
    __doc__ = r"""A multi-layer LSTM, built from :class:`LSTMCell`'s step (gates :math:`i, f, g,
    o`, their derivatives in :class:`LSTMCell`), with torch's optional projection.

    .. math::
        \begin{array}{ll}
        i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}), \quad
        f_t = \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}), \quad
        o_t = \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t = f_t \odot c_{t-1} + i_t \odot g_t, \qquad h_t = o_t \odot \tanh(c_t)
        \qquad (h_t \leftarrow W_{hr} h_t \text{ with proj\_size} > 0)
        \end{array}

        \frac{\partial L}{\partial c_{t-1}} = f_t \odot \Big(\frac{\partial L}{\partial c_t}
        + \frac{\partial L}{\partial h_t} \odot o_t \odot (1 - \tanh^2 c_t)\Big)

    The cell state's own path multiplies the gradient by the forget gate only, with no
    :math:`W_{hh}`: the remedy the notes name for vanishing and exploding gradients.
""" + _LAYER_ARGS + _LAYER_TAIL + r"""
        proj_size (int, optional): if > 0, :math:`h_t` is projected to this size by
            ``weight_hr_l{k}`` :math:`(\text{proj\_size}, H)`. Default: 0
        device, dtype: of the parameters. Default: ``None``
""" + _LAYER_SHAPE + r"""
        - hx is a tuple ``(h_0, c_0)``; :math:`c` always has :math:`H` features, :math:`h` has
          ``proj_size`` when it is > 0. Returns ``(output, (h_n, c_n))``.

    Examples::

        >>> import torch, nnref
        >>> lstm = nnref.recurrent.LSTM(3, 5, batch_first=True, bidirectional=True)
        >>> theirs = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True)
        >>> _ = theirs.load_state_dict(lstm.state_dict())
        >>> x = torch.randn(2, 7, 3)
        >>> out, (h_n, c_n) = lstm(x)
        >>> out.shape, h_n.shape
        (torch.Size([2, 7, 10]), torch.Size([2, 2, 5]))
        >>> torch.testing.assert_close((out, (h_n, c_n)), theirs(x))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)

    def forward(self, input: torch.Tensor,
                hx: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        input, states, batched = self._prepare(input, (None, None) if hx is None else hx,
                                               "LSTM")
        output, (h_n, c_n) = self._finish(*self._run(input, states), batched)
        return output, (h_n, c_n)


class GRU(_RNNBase):
    __doc__ = r"""A multi-layer GRU, built from :class:`GRUCell`'s step (gates :math:`r, z, n`,
    their derivatives in :class:`GRUCell`).

    .. math::
        \begin{array}{ll}
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}), \quad
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})), \quad
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{array}

        \frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(z_t) + (\text{terms
        through } r_t, z_t, n_t)
""" + _LAYER_ARGS + _LAYER_TAIL + r"""
        device, dtype: of the parameters. Default: ``None``
""" + _LAYER_SHAPE + r"""

    Returns ``(output, h_n)``.

    Examples::

        >>> import torch, nnref
        >>> gru = nnref.recurrent.GRU(3, 5, num_layers=2)
        >>> theirs = torch.nn.GRU(3, 5, num_layers=2)
        >>> _ = theirs.load_state_dict(gru.state_dict())
        >>> x = torch.randn(7, 3)  # unbatched: (L, H_in)
        >>> out, h_n = gru(x)
        >>> out.shape, h_n.shape
        (torch.Size([7, 5]), torch.Size([2, 5]))
        >>> torch.testing.assert_close((out, h_n), theirs(x))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        input, states, batched = self._prepare(input, hx, "GRU")
        output, (h_n,) = self._finish(*self._run(input, states), batched)
        return output, h_n
