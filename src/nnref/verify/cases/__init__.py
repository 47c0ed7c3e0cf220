"""How each registered component is tested: one cases object per ``(kind, name)``.

The built-in components' cases live in one module per kind (``activation``, ``loss``, ``init``,
``optim``, ``dropout``, ``norm``), each a ``CASES`` table of a typed dataclass
(:class:`~nnref.verify.cases.activation.ActivationCases`, ...) holding the keyword-argument
sets, input domains, kinks, hyper-parameter ranges, invalid arguments and, where torch has no
counterpart, the independent oracle. A user's component is added with
:func:`nnref.verify.register`, which registers its :class:`~nnref.registry.Spec` and stores
its cases here: the registry itself never holds test data, not even opaquely.
"""

from __future__ import annotations

import importlib
from typing import Any

from nnref import registry

# kind -> module holding the built-in cases of that kind (imported on first lookup, so that
# verifying one kind does not build every other kind's oracles).
MODULES = {
    "activation": "nnref.verify.cases.activation",
    "loss": "nnref.verify.cases.loss",
    "init": "nnref.verify.cases.init",
    "optim": "nnref.verify.cases.optim",
    "dropout": "nnref.verify.cases.dropout",
    "norm": "nnref.verify.cases.norm",
    "recurrent": "nnref.verify.cases.recurrent",
}

_TABLES: dict[str, dict[str, Any]] = {}


def _module(kind: str):
    if kind not in MODULES:
        raise registry.UnknownNameError(
            f"unknown registry kind {kind!r}; valid kinds: {', '.join(MODULES)}")
    return importlib.import_module(MODULES[kind])


def table(kind: str) -> dict[str, Any]:
    """``name -> cases`` of every component of ``kind`` that has cases (built-in and user)."""
    if kind not in _TABLES:
        _TABLES[kind] = dict(_module(kind).CASES)
    return _TABLES[kind]


def lookup(kind: str, name: str) -> Any:
    """The cases of the component ``name`` (or an alias) of ``kind``.

    Raises:
        LookupError: for a registered component nobody gave cases (register it with
            :func:`nnref.verify.register` to have it verified).
    """
    canonical = registry.spec(kind, name).name
    try:
        return table(kind)[canonical]
    except KeyError:
        raise LookupError(
            f"{kind} {canonical!r} has no verification cases; register it with "
            f"nnref.verify.register(spec, cases)") from None


def of(spec: registry.Spec) -> Any:
    """The cases of ``spec``."""
    return lookup(spec.kind, spec.name)


def case_type(kind: str) -> type:
    """The cases dataclass of ``kind`` (``ActivationCases`` for ``"activation"``, ...)."""
    return _module(kind).CASE_TYPE


def add(spec: registry.Spec, cases: Any) -> None:
    """Store ``cases`` for ``spec`` (already registered); refuses a wrong type or a second
    entry for the same name."""
    expected = case_type(spec.kind)
    if not isinstance(cases, expected):
        raise TypeError(f"cases for {spec.kind} {spec.name!r} must be a {expected.__name__}, "
                        f"got {type(cases).__name__}")
    entries = table(spec.kind)
    if spec.name in entries:
        raise ValueError(f"{spec.kind} {spec.name!r} already has verification cases")
    entries[spec.name] = cases
