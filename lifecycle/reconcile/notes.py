"""What a run could not do, typed: each line of a report's `errors`, `skipped`, `refused`, `deferred`
and `rejected` is a Note.

A Note is its text (what the report, the logs and the audit show, unchanged) and carries its kind and the
resource it concerns, which is what code decides on: whether a delivery is tried again
(`Kind.retry`), which image a line belongs to, which target an audit record names. No code reads a
Note's words back (kopf's temporary and permanent errors, Powertools' per-record batch outcomes).
"""

from __future__ import annotations

from enum import StrEnum

from lifecycle.gateways.errors import RetryableError


class Kind(StrEnum):
    OUT_OF_SCOPE = "out-of-scope"  # the policy does not cover the resource: no retry can help
    NOT_FOUND = "not-found"  # ARM has no such resource: no retry can help
    TEMPORARY = "temporary"  # a retryable answer (throttled, 5xx, timeout): a later try may pass
    CONTENDED = "contended"  # another run holds or changed the image: a later run does the rest
    PERMANENT = "permanent"  # an answer no retry changes by itself (4xx, denied, invalid input)
    NOT_STARTED = "not-started"  # left whole for the next run (the invocation's time budget)
    REFUSED = "refused"  # an approval or revocation that cannot be taken: final
    REJECTED = "rejected"  # an event from a sender the gallery does not trust: changed nothing

    @property
    def retry(self) -> bool:
        """Whether the work a skip of this kind left undone is worth delivering again (an event, a queue
        message): everything but a resource the policy does not cover or ARM does not have."""
        return self not in (Kind.OUT_OF_SCOPE, Kind.NOT_FOUND)


class Note(str):
    """One line of a report: `str(note)` is `"<target>: <detail>"` (or the detail alone when it concerns
    no one resource); `kind` and `target` are what code reads."""

    kind: Kind
    target: str
    detail: str

    def __new__(cls, kind: Kind, target: str, detail: str, text: str | None = None) -> Note:
        """`text`, when given, is the whole line (it names the target in its own words)."""
        if text is None:
            text = f"{target}: {detail}" if target else detail
        note = super().__new__(cls, text)
        note.kind, note.target, note.detail = kind, target, detail
        return note

    def __getnewargs__(self) -> tuple[Kind, str, str, str]:  # type: ignore[override]
        return (self.kind, self.target, self.detail, str(self))

    def concerns(self, key: str) -> bool:
        """Whether the note is about the resource `key` (a lower-cased id) or one below it."""
        return bool(self.target) and self.target.lower().startswith(key.lower())

    def about(self, target: str) -> Note:
        """The same note, told of another resource (a version instead of its image)."""
        return Note(self.kind, target, self.detail)


def kind_of(exc: Exception) -> Kind:
    """A gateway error's kind: temporary when a retry may pass, else permanent."""
    return Kind.TEMPORARY if isinstance(exc, RetryableError) else Kind.PERMANENT


def failure(target: str, exc: Exception) -> Note:
    """A gateway error as a note about `target`."""
    return Note(kind_of(exc), target, str(exc))


def from_text(kind: Kind, text: str) -> Note:
    """A note from a text that may start with the ARM id it concerns (`"/subscriptions/...: why"`, as the
    gateways word their errors); the id becomes the note's target."""
    if text.startswith("/subscriptions/") and ": " in text:
        target, detail = text.split(": ", 1)
        return Note(kind, target, detail)
    return Note(kind, "", text)


def failure_of_text(exc: Exception) -> Note:
    """A gateway error whose text names its resource first (`"/subscriptions/...: why"`)."""
    return from_text(kind_of(exc), str(exc))
