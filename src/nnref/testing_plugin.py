"""pytest plugin of :mod:`nnref.testing` (registered as the ``pytest11`` entry point ``nnref``).

``pytest --nnref-check pkg.module:Name --against torch.nn.functional.gelu`` adds one test per
property and dtype of ``Name`` (an autograd Function, a Module class, an Optimizer class or a
function) checked against ``--against`` (see :func:`nnref.testing.checks_for`); the options
repeat, pairing each ``--nnref-check`` with the ``--against`` in the same position. Inside a
test file, :func:`nnref.testing.parametrize` does the same for any call.

Nothing here imports torch until a check is asked for, so the plugin costs other projects'
pytest runs nothing.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("nnref", "nnref.testing: prove a Function, Module or Optimizer")
    group.addoption("--nnref-check", action="append", default=[], metavar="MODULE:NAME",
                    help="check this Function/Module/Optimizer/function (repeatable)")
    group.addoption("--against", action="append", default=[], metavar="MODULE.NAME",
                    help="what the --nnref-check in the same position is compared with")


class CheckItem(pytest.Item):
    """One :class:`nnref.testing.Check` as a test."""

    def __init__(self, *, check, **kwargs):
        super().__init__(**kwargs)
        self.check = check

    def runtest(self):
        self.check()

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, self.name


def pytest_collection_modifyitems(session, config, items):
    targets, against = config.getoption("nnref_check"), config.getoption("against")
    if not targets:
        return
    if len(targets) != len(against):
        raise pytest.UsageError(f"{len(targets)} --nnref-check but {len(against)} --against: "
                                "give one --against per --nnref-check")
    from nnref import testing

    for target, base in zip(targets, against, strict=True):
        for check in testing.checks_for(testing.load(target), testing.load(base)):
            items.append(CheckItem.from_parent(session, name=f"{target}[{check.id}]",
                                               check=check))
