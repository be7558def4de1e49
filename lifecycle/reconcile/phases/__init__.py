"""The phases of one image's unit, in the order `reconcile/image.py` runs them, each a function of the one
ImageUnit (`unit.py`):

- `read.py`: the remembered state (with the build a trigger carries) and the image as ARM has it;
- `gate_requests.py`: operators' approvals and revocations, judged and taken into the state;
- `plan.py`: the pure planner, the run-wide delete allowance and the planning turn; `observations.py`
  holds the reads it may need (rebake run, base, deprecation, consumers, sizing);
- `claim.py`: the rebake claimed with a conditional write;
- `outbox_steps.py`: the events this run announces recorded before the writes, and delivered after;
- `execute.py`: the writes;
- `remember.py`: the state after the writes, written back;
- `wakeups.py`: a delayed queue message for a version waiting for its build;
- `finish.py`: once the lease is let go, what the report (with the soft-deleted versions), the lineage and
  the audit learn.
"""
