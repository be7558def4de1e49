"""Reliability suites: Hypothesis profiles and the figures printed at the end of the run.

`RELIABILITY_SCALE=full` (set by `make fuzz`, `make chaos`, `make storm`) runs the full sizes; `make test`
runs the short ones. The short profile is derandomized, so `make test` tries the same inputs every time;
the full runs draw new ones.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings

from tests.integration.conftest import env, policy_text  # noqa: F401  (the integration fixtures, as they are)
from tests.reliability import figures

settings.register_profile(
    "short",
    deadline=None,
    derandomize=True,
    # No shrinking inside `make test`: a failure is reported as found, within the suite's time budget.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile(
    "full",
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
settings.load_profile("full" if os.environ.get("RELIABILITY_SCALE") == "full" else "short")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = figures.render()
    if not lines:
        return
    scale = os.environ.get("RELIABILITY_SCALE", "short")
    terminalreporter.section(f"reliability figures ({scale} run)")
    for line in lines:
        terminalreporter.write_line(line)
