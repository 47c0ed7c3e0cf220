"""Alias of ``python -m nnref bench``: run the benchmark sections and print their tables.

    python scripts/bench.py --section models --quick
"""

import sys

from nnref.bench import main

if __name__ == "__main__":
    sys.exit(main())
