"""Run a service module under cProfile, switched on and off by signals.

``python -m bench.profiled boxoffice.reservations OUT``: SIGUSR1 starts profiling the
main thread (the event loop), SIGUSR2 stops it and writes the stats to ``OUT``.
Used by ``bench.profile --cprofile``.
"""

from __future__ import annotations

import cProfile
import os
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    module, out = sys.argv[1], sys.argv[2]
    profiler = cProfile.Profile()

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        # Written aside, then renamed: whoever waits for OUT never reads half a file.
        profiler.dump_stats(f"{out}.part")
        os.replace(f"{out}.part", out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
