"""Command line: ``python -m nnref verify | bench | list`` (also the ``nnref`` console script)."""

from __future__ import annotations

import argparse
import importlib
import sys

from nnref import registry, verify


def _builtin_name(obj) -> str:
    if obj is None:
        return "none (oracle)"
    module, name = obj.__module__, obj.__qualname__
    return f"`{_short(module)}.{name}`"


def _short(module: str) -> str:
    for long, short in (("torch.nn.modules", "nn"), ("torch.nn.init", "nn.init"),
                        ("torch.optim", "optim")):
        if module.startswith(long):
            return short
    return module


def registry_table(kinds=None) -> str:
    """Markdown table of every registered component: the README's feature table."""
    lines = ["| kind | name | aliases | reference | torch counterpart | note |",
             "|---|---|---|---|---|---|"]
    for kind in kinds or registry.KINDS:
        for s in registry.KINDS[kind].values():
            ref = getattr(s.reference, "__name__", str(s.reference))
            lines.append(f"| {kind} | `{s.name}` | {', '.join(s.aliases) or '-'} | `{ref}` | "
                         f"{_builtin_name(s.builtin)} | {s.note} |")
    return "\n".join(lines)


def _unknown_names(names: list[str], kinds: list[str]) -> str | None:
    """One line for the first of ``names`` no component of ``kinds`` is called, or None."""
    valid = [n for kind in kinds for n in registry.names(kind, aliases=True)]
    for name in names:
        if name not in valid:
            canonical = [n for kind in kinds for n in registry.names(kind)]
            return (f"unknown --name {name!r}{registry.did_you_mean(name, valid)}; choices: "
                    f"{', '.join(canonical)}")
    return None


def _bench(argv: list[str]) -> int:
    # Imported here: the benchmarks pull in torch.utils.benchmark and the model sections,
    # which `verify` and `list` never need.
    from nnref import bench

    return bench.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the bench section parses its own arguments
        return _bench(argv[1:])
    parser = argparse.ArgumentParser(prog="nnref", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="check every registered component against torch")
    p.add_argument("--kind", action="append", choices=list(registry.KINDS),
                   help="only this kind (repeatable); default: all")
    p.add_argument("--device", action="append",
                   help="cpu, cuda, ... (repeatable); default: cpu and cuda when available")
    p.add_argument("--name", action="append", help="only this component (repeatable)")
    p.add_argument("--thorough", action="store_true",
                   help="then run torch's own sample databases (OpInfo op_db, module_db, "
                        "optim_db) for every selected component on the same devices")
    p.add_argument("--fused", action="store_true",
                   help="check the fused eager path instead (nnref.fused(): each Function's own "
                        "formula compiled); the Functions it does not offer are listed")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (repeatable): a module that registers components "
                        "with nnref.verify.register")
    sub.add_parser("bench", help="time the references against torch (python -m nnref bench -h)")
    p_list = sub.add_parser("list", help="print the registry as a markdown table")
    p_list.add_argument("--kind", action="append", choices=list(registry.KINDS))
    args = parser.parse_args(argv)

    if args.command == "list":
        print(registry_table(args.kind))
        return 0

    for module in args.imports:
        try:
            importlib.import_module(module)
        except Exception as exc:  # a user's module: report it in one line, not a traceback
            print(f"nnref verify: --import {module}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 2
    kinds = args.kind or list(registry.KINDS)
    if args.name and (problem := _unknown_names(args.name, kinds)):
        print(f"nnref verify: {problem}", file=sys.stderr)
        return 2
    if args.fused:
        import torch

        from nnref import fusion

        # a formula past the recompile limit would run eager and pass unproven: fail instead
        with fusion.fused(), torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
            rows = verify.run(args.kind, args.device, args.name)
        for name, reason in fusion.NOT_OFFERED.items():
            print(f"not fused (runs eager in nnref.fused()): {name}: {reason}")
    else:
        rows = verify.run(args.kind, args.device, args.name)
    if args.thorough:
        # Imported here: loading torch's test databases takes seconds the normal run never pays.
        from nnref.verify import torchdb

        rows += torchdb.run(args.device or verify.default_devices(), args.kind, args.name)
    print(verify.format_table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
