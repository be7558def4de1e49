"""`python -m lifecycle smoke`: the whole product against a scratch resource group of a real subscription.

- `blueprint.py`: what a run creates, its cost and its generated policy (pure).
- `runner.py`: named steps with one line each, and the cleanup that undoes them.
- `scenario.py`: the steps: the scratch chain, then the app's own reconcile over it, checked against ARM.
- `command.py`: options, the dry description, settings, recording and exit codes.
"""

from lifecycle.smoke.command import SmokeOptions, run

__all__ = ["SmokeOptions", "run"]
