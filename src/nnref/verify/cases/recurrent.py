"""Verification cases of the recurrent cells and layers (compared with torch's RNN, LSTM, GRU
and their cells)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Kwargs = Mapping[str, Any]


@dataclass(frozen=True)
class RecurrentCases:
    """What the harness needs to test one recurrent cell or layer.

    Attributes:
        kwargs: constructor keyword sets (``input_size`` and ``hidden_size`` included), one run
            each.
        cell: one step (``RNNCell``, ...) rather than a layer over a sequence.
        seq_len: sequence length of the parity runs (layers).
        batch: batch size of the parity runs.
        long_len: the sequence length of the float32 accuracy check, long enough that rounding
            accumulates through time.
        invalid: ``(kwargs, exception type)`` pairs construction must refuse as torch does.
    """

    kwargs: tuple[Kwargs, ...]
    cell: bool = False
    seq_len: int = 7
    batch: int = 3
    long_len: int = 200
    invalid: tuple[tuple[Kwargs, type[Exception]], ...] = ()


CASE_TYPE = RecurrentCases

_SIZES = {"input_size": 4, "hidden_size": 6}
_LAYER_OPTIONS = (
    {}, {"num_layers": 2}, {"bias": False}, {"batch_first": True}, {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True, "batch_first": True},
    {"num_layers": 3, "dropout": 0.3},
)
_LAYER_INVALID = (
    ({"input_size": 4, "hidden_size": 0}, ValueError),
    ({"input_size": 0, "hidden_size": 6}, ValueError),
    ({"input_size": 4, "hidden_size": 6, "num_layers": 0}, ValueError),
    ({"input_size": 4, "hidden_size": 6, "dropout": 1.5}, ValueError),
    ({"input_size": 4, "hidden_size": 6, "bias": 1}, TypeError),
    ({"input_size": 4, "hidden_size": 6, "batch_first": "yes"}, TypeError),
    ({"input_size": 4.0, "hidden_size": 6}, TypeError),
)


def _layer(*extra: Kwargs, invalid=_LAYER_INVALID) -> RecurrentCases:
    return RecurrentCases(tuple({**_SIZES, **o} for o in _LAYER_OPTIONS + extra),
                          invalid=invalid)


CASES: dict[str, RecurrentCases] = {
    "rnn": _layer(invalid=_LAYER_INVALID + (
        ({"input_size": 4, "hidden_size": 6, "nonlinearity": "sigmoid"}, ValueError),)),
    "rnn_relu": _layer(),
    "lstm": _layer({"proj_size": 3}, {"proj_size": 2, "num_layers": 2, "bidirectional": True},
                   invalid=_LAYER_INVALID + (
                       ({"input_size": 4, "hidden_size": 6, "proj_size": 6}, ValueError),
                       ({"input_size": 4, "hidden_size": 6, "proj_size": -1}, ValueError))),
    "gru": _layer(),
    "rnn_cell": RecurrentCases(({**_SIZES}, {**_SIZES, "bias": False},
                                {**_SIZES, "nonlinearity": "relu"}), cell=True,
                               invalid=(({**_SIZES, "nonlinearity": "gelu"}, ValueError),)),
    "lstm_cell": RecurrentCases(({**_SIZES}, {**_SIZES, "bias": False}), cell=True),
    "gru_cell": RecurrentCases(({**_SIZES}, {**_SIZES, "bias": False}), cell=True),
}
