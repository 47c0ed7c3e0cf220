"""The one validation layer of the experiment stack.

Constructors (models, data modules, the LightningModule) check their own arguments and raise
:class:`ArgumentError`, which names the argument, the value and what is allowed (choices or a
range). ``train()`` re-labels it with the config key the argument came from and raises
:class:`ConfigError`: one line a script can trust, with a did-you-mean for near misses.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

from nnref.registry import did_you_mean

__all__ = ["ArgumentError", "ConfigError", "choice", "check", "is_number", "is_int",
           "did_you_mean", "options"]


class ConfigError(ValueError):
    """A config value that cannot work; the message is one line naming the key."""


class ArgumentError(ValueError):
    """A bad argument: its name, value, and the valid ``choices``, the ``allowed`` range, or
    the ``reason`` the component it configures gave.

    :meth:`describe` words the same facts for any key, so a config layer can report the key
    the value came from instead of the argument name.
    """

    def __init__(self, name: str, value: Any, allowed: str = "",
                 choices: Iterable[Any] | None = None, reason: str = "") -> None:
        self.name, self.value, self.allowed, self.reason = name, value, allowed, reason
        self.choices = None if choices is None else list(choices)
        super().__init__(self.describe(name))

    def describe(self, key: str) -> str:
        if self.choices is not None:
            listed = ", ".join(map(str, self.choices)) or "(none registered yet)"
            return (f"{key}={self.value!r} is not valid; choose one of: {listed}"
                    f"{did_you_mean(self.value, self.choices)}")
        if self.reason:
            return f"{key}={self.value!r} is not valid: {self.reason}"
        if self.value is None or isinstance(self.value, (str, bool)):
            # a range was asked for: text (``optim.lr=abc``), a flag or null is no number at all
            return f"{key}={self.value!r} is not a number; must be {self.allowed}"
        return f"{key}={self.value!r} is out of range; must be {self.allowed}"


def is_number(value: Any) -> bool:
    """A finite real number (``bool`` is not one: ``True`` as a rate is a typo)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(name: str, value: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise ArgumentError(name, value, allowed)


def choice(name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ArgumentError(name, value, choices=choices)


def options(target: Any) -> list[str]:
    """Keyword arguments ``target`` accepts (a class: its ``__init__`` and, while one passes
    ``**kwargs`` on, those up its hierarchy)."""
    found: list[str] = []
    fns = [c.__init__ for c in target.__mro__ if "__init__" in vars(c)] \
        if inspect.isclass(target) else [target]
    for fn in fns:
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            continue
        found += [p.name for p in params if p.name != "self" and p.name not in found
                  and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return found
