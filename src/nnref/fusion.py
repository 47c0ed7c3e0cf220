r"""An opt-in fused eager path: each reference Function's own forward and backward formula,
compiled.

Eager, a reference composed of elementary ops pays one memory pass per op (rule 1: it never
calls its torch counterpart), where torch's kernel makes one. Under :func:`fused` every
offered ``autograd.Function`` of nnref runs its *own* ``forward`` and ``backward`` through
``torch.compile`` (inductor fuses the elementwise chain into one loop); the Python formula is
the same one the eager path runs, so the proof (``python -m nnref verify --fused``) carries
over wherever the compiled arithmetic rounds as the eager one does. Each formula is compiled
once per dtype and device the first time it runs (and once more, with dynamic sizes, at the
second shape it sees); the graphs are cached for the rest of the process. The first call pays
the compilation: seconds per Function (tens of seconds for a whole model's first step).

What stays eager inside the context: a backward with ``create_graph=True`` (the compiled
backward is not differentiable again; double backward runs the eager formula), a call under
``torch.compile`` (the outer graph fuses it already) or under a functorch transform (vmap,
grad), and the Functions in :data:`NOT_OFFERED`, whose compiled formula rounds differently
from the eager one (each with the failure ``verify --fused`` measured).

The context patches ``apply`` on nnref's Function classes while it is active: it is
process-wide, not per thread. It also raises dynamo's recompile limit to
:data:`RECOMPILE_LIMIT` graphs per formula (each dtype, and each value of a hyper-parameter a
formula branches on, is a graph).

Examples::

    >>> import torch, nnref
    >>> x = torch.linspace(-2, 2, 5, requires_grad=True)
    >>> with nnref.fused():
    ...     y = nnref.activations.relu(x)
    >>> y.detach()
    tensor([0., 0., 0., 1., 2.])
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch

__all__ = ["NOT_OFFERED", "RECOMPILE_LIMIT", "functions", "fused", "is_enabled"]

# Function qualname -> what verify --fused measured when it was compiled (see the module doc).
NOT_OFFERED: dict[str, str] = {
    "nnref.normalization._BatchNormFn": (
        "not proven: verify --fused compiled its backward past the recompile limit (64 "
        "graphs: one per rank, eps, affine flags and needs_input_grad combination) and failed "
        "at case num_features=6,bias=False; the 11 norm cases before it passed (torch 2.13, CPU)"),
}

_depth = 0
RECOMPILE_LIMIT = 64  # graphs per formula inside the context (dtypes, shapes, constants)


def is_enabled() -> bool:
    """Whether a :func:`fused` context is active."""
    return _depth > 0


def functions() -> list[type[torch.autograd.Function]]:
    """Every ``autograd.Function`` subclass defined in nnref (its core modules imported)."""
    import nnref  # noqa: F401  (imports every core module, so every Function is defined)

    seen, todo = [], list(torch.autograd.Function.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if (cls.__module__.startswith("nnref.") and cls not in seen
                and not issubclass(cls, _Fused)):
            seen.append(cls)
    return sorted(seen, key=_qualname)


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Ctx:
    """What a backward formula reads from its ctx, as a plain object ``torch.compile`` can take
    as an argument: the saved tensors, ``needs_input_grad`` and the attributes setup_context
    set."""

    def __init__(self, ctx):
        self.__dict__.update(vars(ctx))
        self.saved_tensors = ctx.saved_tensors
        self.needs_input_grad = ctx.needs_input_grad


class _Fused(torch.autograd.Function):
    """Base of the compiled twins :func:`_twin` makes."""


@functools.cache
def _twin(cls: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """An ``autograd.Function`` computing ``cls``'s own forward and backward, each compiled."""
    # dynamic=None: the first shape compiles static, a second one recompiles once with dynamic
    # sizes, which then serves every shape of that dtype and device
    forward = torch.compile(cls.forward)
    backward = torch.compile(cls.backward)

    def fwd(*args):
        return forward(*args)

    def setup_context(ctx, inputs, output):
        cls.setup_context(ctx, inputs, output)

    def bwd(ctx, *grads):
        if torch.is_grad_enabled():  # create_graph: the compiled graph has no backward
            return cls.backward(ctx, *grads)
        return backward(_Ctx(ctx), *grads)

    # built with type() so that autograd names the node after the twin (Fused<name>Backward)
    return type(f"Fused{cls.__name__}", (_Fused,), {
        "forward": staticmethod(fwd), "setup_context": staticmethod(setup_context),
        "backward": staticmethod(bwd), "__module__": __name__})


def _eager_only() -> bool:
    return torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()


def _patched_apply(cls, *args, **kwargs):
    if _eager_only():
        return super(cls, cls).apply(*args, **kwargs)
    return _twin(cls).apply(*args, **kwargs)


@contextlib.contextmanager
def fused(*, unchecked: bool = False) -> Iterator[None]:
    """Run nnref's Functions through their compiled formulas while the context is active.

    Args:
        unchecked: also fuse the Functions in :data:`NOT_OFFERED` (to measure why they are
            not offered; their results then differ from the eager path). Default: ``False``
    """
    global _depth
    patched = []
    limits = contextlib.nullcontext()
    if _depth == 0:
        # verify's cases call one Function with many hyper-parameter values, each a guard
        limits = torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT)
        for cls in functions():
            if "apply" in vars(cls):  # a Function overriding apply is left as it is
                continue
            if unchecked or _qualname(cls) not in NOT_OFFERED:
                cls.apply = classmethod(_patched_apply)
                patched.append(cls)
    _depth += 1
    try:
        with limits:
            yield
    finally:
        _depth -= 1
        for cls in patched:
            del cls.apply
