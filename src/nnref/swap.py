"""Swap a model's torch modules for the nnref references, or back, in place.

The pairs come from the registry: every :class:`~nnref.registry.Spec` (of any kind —
activations, losses, dropout, normalization, and whatever is registered later) whose built-in
and reference are both ``nn.Module`` classes maps one to the other. Nothing here names a
component.

A replacement is built from the old module's constructor arguments, read back from its
attributes (torch stores them under their argument names: ``p``, ``inplace``, ``eps``,
``momentum``, ``negative_slope``, ``reduction`` ...), then takes over the old module's very
``Parameter`` and buffer objects (so an optimizer built on ``model.parameters()`` keeps
working, and device/dtype/``requires_grad`` are kept) and its train/eval mode.

Examples::

    >>> model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2))
    >>> weight = model[1].weight
    >>> print(to_reference(model))
    swap to reference: 3 replaced, 1 without counterpart, 0 skipped
      replaced  1: torch.BatchNorm1d -> nnref.BatchNorm1d
      replaced  2: torch.ReLU -> nnref.ReLU
      replaced  3: torch.Dropout -> nnref.Dropout
      kept      0: torch.Linear (no counterpart)
    >>> type(model[1]).__module__, model[1].weight is weight
    ('nnref.normalization', True)
    >>> print(to_builtin(model))
    swap to torch: 3 replaced, 0 without counterpart, 0 skipped
      replaced  1: nnref.BatchNorm1d -> torch.BatchNorm1d
      replaced  2: nnref.ReLU -> torch.ReLU
      replaced  3: nnref.Dropout -> torch.Dropout
    >>> type(model[2]) is nn.ReLU
    True
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field

import torch
from torch import nn

from nnref import registry

__all__ = ["SwapReport", "to_reference", "to_builtin", "convert", "pairs"]

# Constructor arguments that place tensors rather than configure the module: the tensors
# themselves are moved over, so these are never read back.
_FACTORY_ARGS = frozenset({"device", "dtype"})
_EMPTY = inspect.Parameter.empty


@dataclass
class SwapReport:
    """What a swap did.

    Attributes:
        replaced: ``(path, old class, new class)`` for every module replaced.
        no_counterpart: ``(path, class)`` for leaf modules of the side being converted from
            that have no registered counterpart, left as they are: to the reference,
            ``nn.Linear``, ``nn.Conv2d``, a user's own module ...; to torch, nnref-only modules
            such as ``DropConnectLinear``.
        skipped: ``(path, class, reason)`` for modules that have a counterpart which cannot
            express their configuration (e.g. ``Dropout(mode="classic")`` has no torch
            equivalent), left as they are.
    """

    direction: str
    replaced: list[tuple[str, str, str]] = field(default_factory=list)
    no_counterpart: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"swap to {self.direction}: {len(self.replaced)} replaced, "
                 f"{len(self.no_counterpart)} without counterpart, {len(self.skipped)} skipped"]
        lines += [f"  replaced  {p or '<root>'}: {a} -> {b}" for p, a, b in self.replaced]
        lines += [f"  kept      {p or '<root>'}: {c} (no counterpart)"
                  for p, c in self.no_counterpart]
        lines += [f"  skipped   {p or '<root>'}: {c} ({why})" for p, c, why in self.skipped]
        return "\n".join(lines)


def _is_module_class(obj) -> bool:
    return inspect.isclass(obj) and issubclass(obj, nn.Module)


def pairs(to: str = "reference") -> dict[type, type]:
    """Exact source class -> target class for every registered module pair.

    ``to="reference"`` maps torch classes to nnref ones, ``to="torch"`` the reverse. Read from
    the registry at call time, so entries registered later are included. Where two entries
    share a class, the first registered wins.
    """
    if to not in ("reference", "torch"):
        raise ValueError(f"to must be 'reference' or 'torch', got {to!r}")
    out: dict[type, type] = {}
    for table in registry.KINDS.values():
        for spec in table.values():
            if not (_is_module_class(spec.builtin) and _is_module_class(spec.reference)):
                continue
            src, dst = ((spec.builtin, spec.reference) if to == "reference"
                        else (spec.reference, spec.builtin))
            out.setdefault(src, dst)
    return out


def _arguments(cls: type) -> dict[str, inspect.Parameter]:
    """Named constructor arguments of ``cls`` (no ``self``, ``*args``, ``**kwargs``).

    A constructor declared as ``__init__(self, *args, **kwargs)`` behind ``typing.overload``
    stubs (torch's ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) is read from its first stub."""
    init = next(iter(typing.get_overloads(cls.__init__)), cls.__init__)
    params = inspect.signature(init).parameters
    return {name: p for i, (name, p) in enumerate(params.items())
            if i > 0 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _read_arg(module: nn.Module, name: str, p: inspect.Parameter):
    """The value of constructor argument ``name`` as stored on ``module``.

    A boolean argument stored under the name of an optional tensor is a switch for it
    (``bias=True`` <=> ``self.bias`` is a Parameter, as in nn.Linear and BatchNorm)."""
    value = getattr(module, name)
    if isinstance(p.default, bool) and (value is None or isinstance(value, torch.Tensor)):
        return value is not None
    return value


def _differs(value, default) -> bool:
    try:
        return bool(value != default)
    except (RuntimeError, TypeError, ValueError):  # tensors and the like: treat as set
        return True


def _recover_kwargs(module: nn.Module, target: type) -> dict:
    """Constructor arguments for ``target`` read from ``module``'s attributes.

    Raises ``ValueError`` when ``module`` is configured in a way ``target`` cannot express: an
    argument of its own constructor that ``target`` lacks, set to a non-default value.
    """
    source_args, target_args = _arguments(type(module)), _arguments(target)
    for name, p in source_args.items():
        if name in target_args or name in _FACTORY_ARGS or not hasattr(module, name):
            continue
        value = _read_arg(module, name, p)
        if p.default is _EMPTY or _differs(value, p.default):
            raise ValueError(f"{name}={value!r} has no equivalent in {target.__name__}")
    kwargs = {}
    for name, p in target_args.items():
        if name in _FACTORY_ARGS:
            continue
        if hasattr(module, name) and not inspect.ismethod(getattr(module, name)):
            kwargs[name] = _read_arg(module, name, p)
        elif p.default is _EMPTY:
            raise ValueError(f"cannot recover the required argument {name!r} of "
                             f"{target.__name__} from {type(module).__name__}")
    return kwargs


def convert(module: nn.Module, target: type) -> nn.Module:
    """A ``target`` instance equivalent to ``module``, owning ``module``'s parameters/buffers.

    Raises:
        ValueError: the configuration cannot be expressed by ``target``, or the two classes
            do not have the same parameter and buffer names.
    """
    new = target(**_recover_kwargs(module, target))
    for slots in ("_parameters", "_buffers"):
        old_names, new_names = set(getattr(module, slots)), set(getattr(new, slots))
        if old_names != new_names:
            raise ValueError(f"{slots.strip('_')} differ: {type(module).__name__} has "
                             f"{sorted(old_names)}, {target.__name__} has {sorted(new_names)}")
        # the same objects, not copies: optimizers and tied weights keep pointing at them
        getattr(new, slots).update(getattr(module, slots))
    new._non_persistent_buffers_set = set(module._non_persistent_buffers_set)
    new.train(module.training)
    return new


def _is_nnref(cls: type) -> bool:
    return cls.__module__.partition(".")[0] == "nnref"


def _name(cls: type) -> str:
    """``torch.ReLU`` / ``nnref.ReLU``: the package tells the two sides apart."""
    return f"{cls.__module__.partition('.')[0]}.{cls.__name__}"


def _swap(model: nn.Module, to: str) -> SwapReport:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    mapping = pairs(to)
    targets = set(mapping.values())
    report = SwapReport(to)
    done: dict[int, nn.Module] = {}  # a module used in several places stays shared
    for path, module in list(model.named_modules(remove_duplicate=False)):
        if path == "":
            if type(module) in mapping:
                report.skipped.append(("", _name(type(module)),
                                       "the root has no parent to replace it in; "
                                       "use convert(module, target)"))
            continue
        cls = type(module)  # exact type: a user's subclass may override forward
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        if cls in mapping:
            if id(module) not in done:
                try:
                    done[id(module)] = convert(module, mapping[cls])
                except ValueError as exc:
                    report.skipped.append((path, _name(cls), str(exc)))
                    continue
            setattr(parent, name, done[id(module)])
            report.replaced.append((path, _name(cls), _name(mapping[cls])))
        elif (cls not in targets and _is_nnref(cls) == (to == "torch")
              and not any(True for _ in module.children())):
            report.no_counterpart.append((path, _name(cls)))
    return report


def to_reference(model: nn.Module) -> SwapReport:
    """Replace, in place, every torch module of ``model`` that has a registered nnref
    reference; parameters, buffers and train/eval mode are kept. Returns a
    :class:`SwapReport`."""
    return _swap(model, "reference")


def to_builtin(model: nn.Module) -> SwapReport:
    """Replace, in place, every nnref module of ``model`` by its torch built-in (the reverse
    of :func:`to_reference`). Returns a :class:`SwapReport`."""
    return _swap(model, "torch")
