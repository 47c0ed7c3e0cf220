"""Command line: ``python -m nnref verify`` (also the ``nnref`` console script)."""

from __future__ import annotations

import argparse
import sys

from nnref import registry, verify


def _builtin_name(obj) -> str:
    if obj is None:
        return "none (oracle)"
    module, name = obj.__module__, obj.__qualname__
    if module.startswith("nnref"):  # a thin adapter over torch, kept in the registry
        return f"torch via `registry.{name}`"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnref", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="check every registered component against torch")
    p.add_argument("--kind", action="append", choices=list(registry.KINDS),
                   help="only this kind (repeatable); default: all")
    p.add_argument("--device", action="append",
                   help="cpu, cuda, ... (repeatable); default: cpu and cuda when available")
    p.add_argument("--name", action="append", help="only this component (repeatable)")
    p_list = sub.add_parser("list", help="print the registry as a markdown table")
    p_list.add_argument("--kind", action="append", choices=list(registry.KINDS))
    args = parser.parse_args(argv)

    if args.command == "list":
        print(registry_table(args.kind))
        return 0

    rows = verify.run(args.kind, args.device, args.name)
    print(verify.format_table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
