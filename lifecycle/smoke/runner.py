"""Named steps with one line each (ok/failed, seconds), and the cleanup that undoes them in reverse order,
after success, a failed step or Ctrl-C alike.

A step that fails stops the run (`StepAborted`); Ctrl-C (KeyboardInterrupt) stops it too. Cleanups are
registered before the step that creates what they remove, so a resource whose creation was interrupted
half-way is removed as well (removals tolerate a resource that does not exist). While cleaning up, a
further Ctrl-C is noted and ignored: leaving half the resources behind is what the cleanup prevents.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


class StepFailed(Exception):
    """A step's check did not hold; the message says what was expected and what was found."""


class StepAborted(Exception):
    """A step failed; the run stops and cleans up."""

    def __init__(self, step: str, error: str) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.error = error


@dataclass
class StepLine:
    name: str
    status: str  # ok | failed | interrupted
    seconds: float
    detail: str | None = None

    def render(self) -> str:
        text = f"{self.status:<11} {self.seconds:7.1f}s  {self.name}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class Runner:
    out: TextIO = field(default_factory=lambda: sys.stdout)
    clock: Callable[[], float] = time.monotonic
    lines: list[StepLine] = field(default_factory=list)
    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def step(self, name: str, action: Callable[[], T]) -> T:
        """Run one step and print its line. A failure (any exception) aborts the run with the step's
        name and the error text (for Azure calls: ARM's status, code and message)."""
        started = self.clock()
        try:
            result = action()
        except KeyboardInterrupt:
            self._print(StepLine(name, "interrupted", self.clock() - started))
            raise
        except Exception as exc:
            error = _error_text(exc)
            self._print(StepLine(name, "failed", self.clock() - started, error))
            raise StepAborted(name, error) from exc
        detail = result if isinstance(result, str) and result else None
        self._print(StepLine(name, "ok", self.clock() - started, detail))
        return result

    def on_cleanup(self, name: str, action: Callable[[], None]) -> None:
        """Register a removal, to run (in reverse order of registration) by `cleanup`."""
        self._cleanups.append((name, action))

    def pending_cleanups(self) -> list[str]:
        return [name for name, _ in reversed(self._cleanups)]

    def cleanup(self) -> bool:
        """Run every registered removal, newest first, each with its own line; a failed one does not stop
        the others. True when all succeeded."""
        ok = True
        with _interrupts_deferred(self.out):
            while self._cleanups:
                name, action = self._cleanups.pop()
                started = self.clock()
                try:
                    action()
                except Exception as exc:
                    ok = False
                    self._print(StepLine(name, "failed", self.clock() - started, _error_text(exc)))
                else:
                    self._print(StepLine(name, "ok", self.clock() - started))
        return ok

    def _print(self, line: StepLine) -> None:
        self.lines.append(line)
        print(line.render(), file=self.out, flush=True)


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return " ".join(text.split())


@contextmanager
def _interrupts_deferred(out: TextIO) -> Iterator[None]:
    """Ctrl-C during the cleanup is noted, not obeyed (only in the main thread, where signals arrive)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def note(signum: int, frame: Any) -> None:
        print("(cleanup in progress: it finishes first, then the run exits)", file=out, flush=True)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
