"""The `anagen` console script.

`anagen simulate ...` and `anagen image ...` run the pure scientific tools without
starting Django; everything else is a Django management command (`anagen migrate`,
`anagen load_demo`, `anagen runserver`, `anagen lots import FILE`, ...).
"""

from __future__ import annotations

import os
import sys
from importlib import import_module

PURE_TOOLS = {
    "simulate": "anagen.simulation.cli",
    "image": "anagen.imaging.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PURE_TOOLS:
        try:
            module = import_module(PURE_TOOLS[argv[0]])
        except ImportError as exc:
            print(f"error: `anagen {argv[0]}` is not available: {exc}", file=sys.stderr)
            return 2
        try:
            return int(module.main(argv[1:]) or 0)
        except BrokenPipeError:
            # The reader left (`anagen simulate ... | head`): stop quietly, as other tools do,
            # with the conventional status, and keep Python's exit flush off the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anagen.settings")
    # Web and worker processes run side by side: one BLAS thread each (threaded BLAS made
    # an MMRM fit 10x slower on a busy 2-core machine; benchmarks/results_analytics.md).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["anagen", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
