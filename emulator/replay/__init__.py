"""`python -m emulator replay PATH...`: replays vcrpy cassettes of real Azure traffic against a fresh
emulator and reports where the emulator answers differently (see runner.py for the rules)."""

from __future__ import annotations

from emulator.replay.cassette import Cassette, CassetteError, Interaction, discover, load
from emulator.replay.compare import Difference, compare, key_paths
from emulator.replay.runner import Outcome, Replayer

__all__ = [
    "Cassette",
    "CassetteError",
    "Difference",
    "Interaction",
    "Outcome",
    "Replayer",
    "compare",
    "discover",
    "key_paths",
    "load",
]
