"""Command line: ``python -m nnref verify`` (also the ``nnref`` console script)."""

from __future__ import annotations

import argparse
import sys

from nnref import registry, verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnref", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="check every registered component against torch")
    p.add_argument("--kind", action="append", choices=list(registry.KINDS),
                   help="only this kind (repeatable); default: all")
    p.add_argument("--device", action="append",
                   help="cpu, cuda, ... (repeatable); default: cpu and cuda when available")
    p.add_argument("--name", action="append", help="only this component (repeatable)")
    args = parser.parse_args(argv)

    rows = verify.run(args.kind, args.device, args.name)
    print(verify.format_table(rows))
    failed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
