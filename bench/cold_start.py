"""Cold-start cost of indexing the function app, against importing azure.functions alone.

Each figure is the median of several fresh interpreters; interpreter start-up itself is excluded.
Target: indexing `function_app.py` costs at most 1.2 times importing `azure.functions`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9

BASELINE = "import time; t=time.perf_counter(); import azure.functions; print(time.perf_counter()-t)"
APP = (
    "import time; t=time.perf_counter(); import function_app; "
    "fs=function_app.app.get_functions(); assert len(fs) >= 2; print(time.perf_counter()-t)"
)
HEAVY = ("azure.mgmt.compute", "azure.storage.blob", "azure.identity", "azure.eventgrid", "pydantic", "yaml")
LEAKS = (
    "import sys, function_app; function_app.app.get_functions(); "
    "print(','.join(m for m in {heavy!r} if m in sys.modules))"
)


def once(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    once(BASELINE), once(APP)  # warm the bytecode caches and the page cache first
    base_samples, app_samples = [], []
    for _ in range(RUNS):  # interleaved, so drift on a shared machine hits both alike
        base_samples.append(once(BASELINE))
        app_samples.append(once(APP))
    base, app = statistics.median(base_samples), statistics.median(app_samples)
    leaked = subprocess.run(
        [sys.executable, "-c", LEAKS.format(heavy=HEAVY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ratio = app / base
    print(f"import azure.functions            {base * 1000:8.1f} ms (median of {RUNS})")
    print(f"import function_app + index      {app * 1000:8.1f} ms (median of {RUNS})")
    print(
        f"ratio                            {ratio:8.2f}  "
        f"(target <= 1.20: {'met' if ratio <= 1.2 else 'NOT met'})"
    )
    print(f"heavy modules loaded at index    {leaked or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
