"""Activation functions: ``autograd.Function`` + functional form + ``nn.Module`` for each.

Names follow ``torch.nn`` / ``torch.nn.functional`` (``ELU``/``elu``, ``Softmax``/``softmax``);
the ones torch lacks (``SQNL``, ``BReLU``, ``APL``, ``Swish``, ``BentIdentity``,
``SoftExponential``, ``SoftClipping``, ``BinaryStep``) follow the same conventions.
"""

from nnref.activations.rectifiers import (
    APL,
    ELU,
    SELU,
    BReLU,
    LeakyReLU,
    PReLU,
    ReLU,
    RReLU,
    apl,
    brelu,
    elu,
    leaky_relu,
    prelu,
    relu,
    rrelu,
    selu,
)
from nnref.activations.sigmoidal import (
    SQNL,
    BinaryStep,
    Identity,
    Sigmoid,
    Softsign,
    Tanh,
    binary_step,
    identity,
    sigmoid,
    softsign,
    sqnl,
    tanh,
)
from nnref.activations.smooth import (
    BentIdentity,
    SiLU,
    SoftClipping,
    SoftExponential,
    Softplus,
    Swish,
    bent_identity,
    silu,
    soft_clipping,
    soft_exponential,
    softplus,
    swish,
)
from nnref.activations.softmax import LogSoftmax, Softmax, log_softmax, softmax

__all__ = [
    "APL", "ELU", "SELU", "BReLU", "LeakyReLU", "PReLU", "ReLU", "RReLU", "apl", "brelu", "elu",
    "leaky_relu", "prelu", "relu", "rrelu", "selu", "SQNL", "BinaryStep", "Identity", "Sigmoid",
    "Softsign", "Tanh", "binary_step", "identity", "sigmoid", "softsign", "sqnl", "tanh",
    "BentIdentity", "SiLU", "SoftClipping", "SoftExponential", "Softplus", "Swish",
    "bent_identity", "silu", "soft_clipping", "soft_exponential", "softplus", "swish",
    "LogSoftmax", "Softmax", "log_softmax", "softmax",
]
