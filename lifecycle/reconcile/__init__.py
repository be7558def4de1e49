"""One reconcile for every trigger.

- `run.py`: the run over targets, sequencing one module per step: `policy_step`, `door`, `scope`,
  `fan_out` or `in_process`, `gate_outcome` and `descendants`, `run_outbox`, sharing a RunFrame (`frame`).
- `image.py`: one image's unit: the order of its phases (`phases/`, each a function of one ImageUnit).
- `trigger.py`: what a run is asked (Trigger, GateRequest); `results.py`: what it did (ImageResult,
  RunReport), with typed `notes` and one `audit` record type.
- `report_writer.py`: the fleet report (`lifecycle.report`) written after a run; `base_reads.py`: the
  base-image reads a run shares.
- `runtime.py`: the gateways (Runtime) and what one run's images share (RunContext).
"""

from lifecycle.reconcile.image import reconcile_image
from lifecycle.reconcile.results import ImageResult, RunReport
from lifecycle.reconcile.run import Reconciler, reconcile
from lifecycle.reconcile.runtime import RunContext, Runtime, Target
from lifecycle.reconcile.trigger import Trigger

__all__ = [
    "ImageResult",
    "Reconciler",
    "RunContext",
    "RunReport",
    "Runtime",
    "Target",
    "Trigger",
    "reconcile",
    "reconcile_image",
]
