"""Rebakes: when an image is due for a rebuild (cron schedule, staleness), the watch over the Image Builder
run that rebuilds it, and the back-off after failed runs. Pure: the run status comes in as an observation
and the clock as `now`.

Rules (all times UTC; `now` is this app's clock, ARM's run times are only compared with each other):

* Schedule: due when the latest cron fire time <= now is later than the last trigger. Only the latest fire
  time is compared, so a downtime that missed several fire times triggers once. Before the first trigger
  the newest healthy version's publish time stands in for the last trigger (an image built after the
  latest fire time is not rebuilt at once); an image with neither is due now.
* Age: due when the newest healthy version was published more than `max_age_days` ago and nothing was
  triggered since it became that old; if a trigger did not bring a newer version, due again
  `max_age_days` after that trigger (one request per staleness period, not one per sweep).
* Retry: after a failed run (or a run that could not start) the rebake is due again `RETRY_DELAY` after
  the failure was seen, until `MAX_FAILURES` failures in a row halt the image.
* A trigger sets `last_trigger = now` (not the fire time): the next sweep sees the same latest fire time
  and nothing is due until the next one, and a trigger deferred by a running run or a halt still counts
  for the fire time it served.
* Image Builder mode watches the template's `lastRunStatus`: no trigger while a run is running (whoever
  started it); a finished run is counted once. `publish_event` mode has no run to watch: publishing the
  request is the trigger, so it never backs off.
* Halted: no trigger until a successful run of the template is seen (started by anyone) or the image's
  effective policy changes (`policy_digest`).
* Base update (`on_base_update`): due when the base image of the newest healthy version has a newer
  version (`lineage.BaseObservation.newer`) that no trigger was made for yet (`base_seen`): a base that
  moved several times while the app was down triggers once, naming the newest. Every trigger while a newer
  base is known records it, so a rebuild that still used the old base does not trigger again; a failed
  run is retried by the retry rule, with the same back-off.
* Base deprecation (`on_base_deprecation`): due when the base of the newest healthy version is
  ScheduledForDeprecation or Deprecated (`deprecation.Deprecation`) and no trigger was made for that base in
  that state yet (`deprecation_seen`); the reason names the date and the alternative. `BaseImageDeprecated`
  is published once per base and state (`deprecation_announced`), whatever else the rebake is doing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from croniter import croniter

from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedImage, ObservedVersion, RunObservation, iso, utc, version_key
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.deprecation import Deprecation
from lifecycle.planning.lineage import BaseObservation, base_of
from lifecycle.planning.types import RebakeReport
from lifecycle.policy import Rebake
from lifecycle.state import RebakeState

# Failed runs in a row after which the image is halted and RebakeFailed is published.
MAX_FAILURES = 3
# A failed rebake is retried this long after the failure was seen: long enough not to hammer a broken
# template, short enough that a transient failure does not wait for the next fire time.
RETRY_DELAY = timedelta(hours=1)
# Image Builder shows a started run in lastRunStatus within seconds; a trigger still invisible after
# this long did not start (the start request was lost), and counts as a failed run.
START_GRACE = timedelta(minutes=30)
# While the run status cannot be read, a watched run is given up (counted as failed) after this long:
# Image Builder's build timeout is at most 16 hours, so the run has ended by then whatever it did.
STATUS_TIMEOUT = timedelta(hours=24)
# Used only when no earlier run status was recorded: a terminal run that started this much before our
# trigger is an older run, not ours (allows for clock skew between this app and ARM).
CLOCK_SKEW = timedelta(minutes=10)

# Outcomes `_observe` records for a failed run; the run's message is kept beside them.
_RECORDED_FAILURES = {"Failed", "Canceled", "NotStarted", "Unknown"}


@dataclass(frozen=True)
class RebakeDecision:
    actions: tuple[Action, ...] = ()
    notifications: tuple[Notification, ...] = ()
    state: RebakeState = field(default_factory=RebakeState)
    report: RebakeReport | None = None


@dataclass(frozen=True)
class _Due:
    """When one rule makes the rebake due (possibly in the future) and why."""

    at: datetime
    reason: str


def plan_rebake(
    policy: Rebake,
    image: ObservedImage,
    state: RebakeState,
    now: datetime,
    *,
    policy_digest: str,
    run: RunObservation | None = None,
    base: BaseObservation | None = None,
    deprecation: Deprecation | None = None,
) -> RebakeDecision:
    """Decide whether `image` is rebaked now; account for the watched run; report the next rebake."""
    if not (policy.schedule or policy.max_age_days or policy.on_base_update or policy.on_base_deprecation):
        return RebakeDecision(state=state)
    now = utc(now)
    notifications: list[Notification] = []
    s = state
    if not policy.on_base_deprecation:
        deprecation = None
    if deprecation is not None and deprecation.deprecating and deprecation.key != s.deprecation_announced:
        notifications.append(
            Notification(
                NotificationType.BASE_IMAGE_DEPRECATED, image.ref.id, deprecation.to_event(image.ref.id)
            )
        )
        s = replace(s, deprecation_announced=deprecation.key)

    if s.policy_digest != policy_digest:
        # A policy change is the operator's way to say "try again": it lifts a halt.
        s = replace(s, policy_digest=policy_digest, consecutive_failures=0, halted=False)

    template = policy.image_template
    if s.running and (template is None or not (s.run_id or "").startswith(f"{template}@")):
        # The watched run belongs to a template the policy no longer uses: nothing to wait for.
        s = replace(s, running=False, run_id=None)
    if template is not None:
        s = _observe(s, run, now, template)

    if s.consecutive_failures >= MAX_FAILURES and not s.halted:
        s = replace(s, halted=True)
        notifications.append(
            Notification(
                NotificationType.REBAKE_FAILED,
                image.ref.id,
                {
                    "imageId": image.ref.id,
                    "imageTemplate": template,
                    "failures": s.consecutive_failures,
                    "lastMessage": _last_failure(s),
                },
            )
        )

    if s.halted:
        why = f"halted after {s.consecutive_failures} failed runs in a row"
        if _last_failure(s):
            why += f" (last: {_last_failure(s)})"
        why += "; resumes after a successful run of the template or a policy change for this image"
        return RebakeDecision(notifications=tuple(notifications), state=s, report=RebakeReport(False, why))

    rules = _rules(policy, image, s, now, base, deprecation)
    due_now = [r for r in rules if r.at <= now]
    if s.running:
        since = iso(s.run_started) if s.run_started else "?"
        status = f" ({run.state}{'/' + run.sub_state if run.sub_state else ''})" if run and run.state else ""
        why = f"run in progress since {since}{status}"
        if due_now:
            why += f"; due again ({due_now[0].reason}) once it ends"
        upcoming = min((r for r in rules if r.at > now), key=lambda r: r.at, default=None)
        return RebakeDecision(
            notifications=tuple(notifications),
            state=s,
            report=RebakeReport(False, why, iso(upcoming.at) if upcoming else None),
        )
    if not due_now:
        upcoming = min(rules, key=lambda r: r.at, default=None)
        report = (
            RebakeReport(False, upcoming.reason, iso(upcoming.at))
            if upcoming
            else RebakeReport(False, _base_note(policy, base) or "nothing scheduled")
        )
        return RebakeDecision(notifications=tuple(notifications), state=s, report=report)

    due = min(r.at for r in due_now)
    reason = "; ".join(r.reason for r in due_now)
    action, s = _trigger(policy, image, s, now, due, reason, run)
    if policy.on_base_update and base is not None and base.newer is not None:
        # Whatever made this rebake due, it builds on the newest base: that update is served.
        s = replace(s, base_seen=base.newer)
    if deprecation is not None and deprecation.deprecating:
        s = replace(s, deprecation_seen=deprecation.key)
    return RebakeDecision(
        actions=(action,),
        notifications=tuple(notifications),
        state=s,
        report=RebakeReport(True, reason, iso(now)),
    )


def _observe(s: RebakeState, run: RunObservation | None, now: datetime, template: str) -> RebakeState:
    """Fold the template's run status into the state: adopt a run someone else started, count a run
    that ended once, and give up on a run that never showed up or cannot be seen."""
    kind = run.kind if run is not None else "unknown"
    if run is None or kind == "unknown":
        if s.running and s.run_started is not None and now - s.run_started > STATUS_TIMEOUT:
            hours = int(STATUS_TIMEOUT.total_seconds() // 3600)
            detail = f": {run.message}" if run is not None and run.message else ""
            return _failed(s, now, "Unknown", f"no run status for {hours} hours{detail}")
        return s
    if kind == "active":
        if not s.running:
            # Started outside this app (portal, pipeline) or by a trigger whose state write was lost:
            # either way a second run must not start, and its outcome counts.
            started = run.started or now
            return replace(s, running=True, run_started=now, run_id=f"{template}@{iso(started)}")
        return s

    marker = run.marker
    if s.run_seen is None and not s.running and kind != "never":
        # First sight of this template: its last run predates our memory and says nothing about us.
        return replace(s, run_seen=marker)
    old = (
        s.run_seen is None
        and s.run_started is not None
        and run.started is not None
        and utc(run.started) < s.run_started - CLOCK_SKEW
    )
    if kind == "never" or marker == s.run_seen or old:
        if old:
            s = replace(s, run_seen=marker)
        if s.running and s.run_started is not None and now - s.run_started > START_GRACE:
            minutes = int(START_GRACE.total_seconds() // 60)
            return _failed(s, now, "NotStarted", f"the run did not start within {minutes} minutes")
        return s

    # A run we have not accounted for has ended: ours, or one started by someone else.
    s = replace(s, run_seen=marker)
    if kind == "succeeded":
        return replace(
            s,
            running=False,
            run_ended=now,
            consecutive_failures=0,
            halted=False,
            last_outcome=run.state,
            last_message=run.message,
        )
    outcome = "Canceled" if (run.state or "").lower() == "canceled" else "Failed"
    return _failed(s, now, outcome, run.message)


def _failed(s: RebakeState, now: datetime, outcome: str, message: str | None) -> RebakeState:
    return replace(
        s,
        running=False,
        run_ended=now,
        consecutive_failures=s.consecutive_failures + 1,
        last_outcome=outcome,
        last_message=message or outcome,
    )


def _last_failure(s: RebakeState) -> str | None:
    """What went wrong last. Outcomes this module records carry their detail in `last_message`; any
    other outcome is a description written by the caller (a start the executor could not make)."""
    if s.last_outcome in _RECORDED_FAILURES:
        return s.last_message or s.last_outcome
    return s.last_outcome


def _base_note(policy: Rebake, base: BaseObservation | None) -> str | None:
    if not policy.on_base_update:
        return None
    if base is None:
        return "base image: the newest version names none (lifecycle.base-image)"
    if base.problem:
        return f"base image not checked: {base.problem}"
    if base.newer is not None:
        return f"base image {base.newer} already rebaked for"
    return f"base image {base.current} is current"


def _rules(
    policy: Rebake,
    image: ObservedImage,
    s: RebakeState,
    now: datetime,
    base: BaseObservation | None = None,
    deprecation: Deprecation | None = None,
) -> list[_Due]:
    """Each configured rule's due time: at or before `now` means due now."""
    newest = newest_healthy(image)
    rules: list[_Due] = []
    if deprecation is not None and deprecation.deprecating and deprecation.key != s.deprecation_seen:
        rules.append(_Due(now, deprecation.describe()))
    if policy.on_base_update and base is not None and base.newer is not None and base.newer != s.base_seen:
        # When the base moved is unknown (Marketplace lists no dates): due as soon as it is seen.
        rules.append(_Due(now, f"base image updated: {base.current} -> {base.newer}"))
    if policy.schedule:
        anchor = s.last_trigger or (newest.published if newest else None)
        latest, upcoming = _fires_around(policy.schedule, now)
        if anchor is None:
            rules.append(_Due(now, f"schedule '{policy.schedule}': no version and never rebaked"))
        elif latest > anchor:
            rules.append(_Due(latest, f"schedule '{policy.schedule}' fired at {iso(latest)}"))
        else:
            rules.append(_Due(upcoming, f"schedule '{policy.schedule}'"))
    if policy.max_age_days:
        age = timedelta(days=policy.max_age_days)
        if newest is None or newest.published is None:
            at = s.last_trigger + age if s.last_trigger else now
            rules.append(_Due(at, f"max age {policy.max_age_days} days: no healthy version"))
        else:
            deadline = newest.published + age
            if s.last_trigger is not None and s.last_trigger >= deadline:
                # Already triggered for this staleness and no newer version came of it: ask again later.
                deadline = s.last_trigger + age
            rules.append(
                _Due(
                    deadline,
                    f"max age {policy.max_age_days} days: newest version {newest.name} "
                    f"published {iso(newest.published)}",
                )
            )
    if policy.image_template and s.consecutive_failures:
        # A start that failed inside the executor leaves no run end: the trigger time stands in.
        failed_at = max((t for t in (s.run_ended, s.last_trigger) if t is not None), default=now)
        rules.append(
            _Due(
                failed_at + RETRY_DELAY,
                f"retry after failed run {s.consecutive_failures} of {MAX_FAILURES}"
                + (f" ({_last_failure(s)})" if _last_failure(s) else ""),
            )
        )
    return rules


def _trigger(
    policy: Rebake,
    image: ObservedImage,
    s: RebakeState,
    now: datetime,
    due: datetime,
    reason: str,
    run: RunObservation | None,
) -> tuple[Action, RebakeState]:
    image_id = image.ref.id
    if policy.image_template:
        template = policy.image_template
        # Remember the status the template shows now: whatever differs from it later is our run.
        seen = run.marker if run is not None and run.kind in ("never", "succeeded", "failed") else s.run_seen
        action = Action(
            kind=ActionKind.REBAKE,
            target=image_id,
            reason=reason,
            before={"last_trigger": iso(s.last_trigger) if s.last_trigger else None},
            after={"image_template": template, "due": iso(due)},
        )
        return action, replace(
            s,
            last_trigger=now,
            running=True,
            run_started=now,
            run_id=f"{template}@{iso(now)}",
            run_seen=seen,
        )
    request = Notification(
        NotificationType.REBAKE_REQUESTED,
        image_id,
        {"imageId": image_id, "reason": reason, "due": iso(due)},
    )
    action = Action(
        kind=ActionKind.REBAKE,
        target=image_id,
        reason=reason,
        before={"last_trigger": iso(s.last_trigger) if s.last_trigger else None},
        after={"publish_event": True, "due": iso(due)},
        notifications=(request,),
    )
    return action, replace(s, last_trigger=now, last_outcome="Requested")


def newest_base(image: ObservedImage) -> str | None:
    """The `lifecycle.base-image` of the newest healthy version (the one a rebake would replace)."""
    newest = newest_healthy(image)
    return base_of(newest) if newest is not None else None


def newest_healthy(image: ObservedImage) -> ObservedVersion | None:
    """The healthy version published last (publish time, not version order: age is about time)."""
    dated = [(v.published, v.name, v) for v in image.versions if v.healthy and v.published is not None]
    return max(dated, key=lambda d: (d[0], version_key(d[1])))[2] if dated else None


def _fires_around(schedule: str, now: datetime) -> tuple[datetime, datetime]:
    """The latest fire time at or before `now`, and the first one after it. croniter's get_prev excludes
    its start, and fire times sit on whole minutes, so start one second into now's minute."""
    start = now.replace(second=0, microsecond=0) + timedelta(seconds=1)
    fires = croniter(schedule, start)
    latest = utc(fires.get_prev(datetime))
    return latest, utc(fires.get_next(datetime))
