"""The replay's printout: mismatches grouped by cause, what was skipped and why, and a summary line."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from emulator.replay.runner import Outcome


def render(outcomes: Iterable[Outcome], *, show_extra: bool = False) -> str:
    items = list(outcomes)
    lines: list[str] = []
    compared = [o for o in items if o.kind == "compared"]
    mismatches = [o for o in compared if o.mismatch]
    skipped = [o for o in items if o.kind == "skipped"]
    by_cause: dict[str, list[Outcome]] = defaultdict(list)
    for o in mismatches:
        by_cause[o.cause].append(o)
    for cause in sorted(by_cause, key=lambda c: (-len(by_cause[c]), c)):
        group = by_cause[cause]
        lines.append(f"MISMATCH {cause} ({len(group)})")
        for o in group:
            lines.append(f"  {o.cassette}#{o.index} {o.method} {o.target} [{o.api_version}]: {o.detail}")
    extra = [o for o in compared if o.extra and not o.mismatch]
    if show_extra and extra:
        lines.append(f"EXTRA keys the emulator returns that Azure did not ({len(extra)} answers)")
        for o in extra:
            lines.append(
                f"  {o.cassette}#{o.index} {o.method} {o.target} [{o.api_version}]: {', '.join(o.extra)}"
            )
    reasons = Counter(o.cause for o in skipped)
    if reasons:
        lines.append(f"SKIPPED ({len(skipped)})")
        for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {count:4d}  {reason}")
    cassettes = len({o.cassette for o in items})
    lines.append(
        f"replayed {cassettes} cassette(s): {len(items)} interactions, {len(compared)} compared, "
        f"{len(mismatches)} mismatches, {len(skipped)} skipped, {len(extra)} answers with extra keys"
    )
    return "\n".join(lines)
