"""The steps of one smoke run: create the scratch chain, drive the app's own reconcile over it, check what
ARM reports after each stage.

Every lifecycle stage runs the engine the functions and the CLI run (`lifecycle.reconcile.reconcile`), with
the generated policy and local state; the build arrives as a real-shaped Event Grid event. Later stages
evaluate at a later time (`at`, as `apply --at` does), because a version's end-of-life is at least a day
away; the versions are written with deletion before end-of-life allowed, so Azure's own clock does not
refuse the delete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from lifecycle import tags as lt
from lifecycle.actions import ActionKind
from lifecycle.events import BuildCompleted, parse_event
from lifecycle.gateways.errors import RetryableError
from lifecycle.gateways.scratch import ScratchGateway, ScratchVersion
from lifecycle.model import GalleryRef, iso, parse_resource_id, parse_time, parse_version_id
from lifecycle.reconcile import Runtime, Trigger, reconcile
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.trigger import GateRequest
from lifecycle.regions import display_name, normalize_region
from lifecycle.smoke.blueprint import DELETE_AFTER, EXPIRY_AFTER, NEW_VERSION, OLD_VERSION, Blueprint
from lifecycle.smoke.runner import Runner, StepFailed

BUILD_ID = "smoke-build-1"
APPROVER = "lifecycle-smoke"
REVOKE_REASON = "smoke test: revoked on purpose"

T = TypeVar("T")


@dataclass
class Smoke:
    blueprint: Blueprint
    runtime: Runtime
    scratch: ScratchGateway
    runner: Runner
    poll_seconds: float
    timeout_seconds: float
    sleep: Callable[[float], None] = time.sleep
    started: datetime | None = None

    def version_id(self, version: str) -> str:
        return f"{self.blueprint.gallery_id}/images/{self.blueprint.image}/versions/{version}"

    @property
    def image_id(self) -> str:
        return f"{self.blueprint.gallery_id}/images/{self.blueprint.image}"

    # --- the run ----------------------------------------------------------------------------------------
    def run(self) -> None:
        r, s, b = self.runner, self.scratch, self.blueprint
        r.on_cleanup(f"remove managed disk {b.disk}", self._patiently(s.delete_disk))
        r.step(f"create managed disk {b.disk}", s.create_disk)
        r.on_cleanup(f"remove snapshot {b.snapshot}", self._patiently(s.delete_snapshot))
        r.step(f"create snapshot {b.snapshot}", s.create_snapshot)
        r.on_cleanup(f"remove gallery {b.gallery}", self._patiently(s.delete_gallery))
        r.step(f"create gallery {b.gallery}", s.create_gallery)
        r.on_cleanup(f"remove image definition {b.image}", self._patiently(s.delete_image))
        r.step(f"create image definition {b.image} (Linux, Gen2, security type Standard)", s.create_image)
        r.on_cleanup("remove image versions", self.remove_versions)
        self.started = datetime.now(UTC)
        for version in (OLD_VERSION, NEW_VERSION):
            r.step(
                f"create image version {version} in {display_name(b.location)}",
                _call(s.create_version, version),
            )
        r.step(
            f"build event for {NEW_VERSION}: build tags, end-of-life, replication started, held", self.build
        )
        second = display_name(b.second_region)
        r.step(f"replication to {second} completed", self.replicated)
        r.step(f"approval of {NEW_VERSION}: approved and promoted into latest", self.approve)
        r.step(f"expiry of {OLD_VERSION}: past end-of-life, excluded from latest", self.expire)
        r.step(f"revoke {NEW_VERSION}: out of latest, tagged revoked", self.revoke)
        r.step(f"in-use check: {NEW_VERSION} unused, its delete planned; {OLD_VERSION} kept", self.in_use)
        r.step(f"delete {NEW_VERSION}", self.delete)

    # --- stages -----------------------------------------------------------------------------------------
    # Each stage runs the app once with its trigger, then checks what ARM reports. Until the check holds
    # (a version still updating from the previous write, a write deferred as busy) it reconciles the image
    # again, as the next sweep would, up to the timeout: the app's reconcile is idempotent. Errors of the
    # run, refusals and permanent failures (403, 400) fail the stage at once.
    def build(self) -> str:
        event = {
            "id": f"smoke-{self.blueprint.run}-build",
            "topic": "/lifecycle-smoke",
            "subject": self.version_id(NEW_VERSION),
            "eventType": "ImageLifecycle.BuildCompleted",
            "eventTime": iso(datetime.now(UTC)),
            "dataVersion": "1",
            "data": {
                "buildId": BUILD_ID,
                "commit": "0000000",
                "pipelineRunUrl": "https://example.invalid/lifecycle-smoke/run/1",
                "approver": APPROVER,
            },
        }
        parsed = parse_event(event)
        if not isinstance(parsed, BuildCompleted):
            raise StepFailed(f"the build event was read as {type(parsed).__name__}")

        def check(report: RunReport) -> str:
            body = self._version(NEW_VERSION)
            tags = body.tags
            _expect(tags.get(lt.BUILD_ID) == BUILD_ID, f"tag {lt.BUILD_ID} is {tags.get(lt.BUILD_ID)!r}")
            _expect(tags.get("owner") == "lifecycle-smoke", f"policy tag owner is {tags.get('owner')!r}")
            eol, published = body.end_of_life, body.published
            _expect(bool(eol) and bool(published), f"end-of-life {eol!r}, published {published!r}")
            lifetime = parse_time(str(eol)) - parse_time(str(published))
            _expect(
                abs(lifetime - timedelta(days=1)) < timedelta(minutes=5),
                f"end-of-life {eol} is not published + 1 day ({published})",
            )
            regions = {normalize_region(name) for name in body.region_names}
            second = normalize_region(self.blueprint.second_region)
            _expect(second in regions, f"target regions {sorted(regions)} lack {second}")
            _expect(body.exclude_from_latest is True, "not held out of latest for approval")
            _expect(
                tags.get(lt.STATE) == lt.STATE_PENDING_APPROVAL,
                f"tag {lt.STATE} is {tags.get(lt.STATE)!r}, not {lt.STATE_PENDING_APPROVAL}",
            )
            return f"{len(report.outcomes)} actions"

        # The build's metadata stays in the image's state until it is on the version: a retry needs no
        # second event.
        first = Trigger("event", scope=parsed.version.id, build=parsed, event_id=parsed.event_id)
        return self._converge(first, check)

    def replicated(self) -> str:
        def check(report: RunReport) -> str:
            states = {v: _replication(self._version(v)) for v in (OLD_VERSION, NEW_VERSION)}
            _expect(
                all(done for done, _ in states.values()),
                "not replicated: " + "; ".join(f"{v}: {summary}" for v, (_, summary) in states.items()),
            )
            return "every region Completed"

        return self._converge(self._image_trigger(), check)

    def approve(self) -> None:
        request = GateRequest("approve", parse_version_id(self.version_id(NEW_VERSION)), by=APPROVER)

        def check(report: RunReport) -> None:
            body = self._version(NEW_VERSION)
            _expect(body.exclude_from_latest is False, "still excluded from latest")
            state = body.tags.get(lt.STATE)
            _expect(state == lt.STATE_ACTIVE, f"tag {lt.STATE} is {state!r}, not {lt.STATE_ACTIVE}")

        # An accepted approval stays in the image's state until it is on the version.
        self._converge(Trigger("cli", scope=request.version.id, gate=request), check)

    def expire(self) -> None:
        def check(report: RunReport) -> None:
            old = self._version(OLD_VERSION)
            state = old.tags.get(lt.STATE)
            _expect(state == lt.STATE_EXPIRED, f"{OLD_VERSION}: tag {lt.STATE} is {state!r}, not expired")
            _expect(old.exclude_from_latest is True, f"{OLD_VERSION} is still in latest")
            new = self._version(NEW_VERSION)
            _expect(new.exclude_from_latest is False, f"{NEW_VERSION} left latest too early")

        self._converge(self._image_trigger(), check, at=self._at(EXPIRY_AFTER))

    def revoke(self) -> None:
        request = GateRequest("revoke", parse_version_id(self.version_id(NEW_VERSION)), reason=REVOKE_REASON)

        def check(report: RunReport) -> None:
            body = self._version(NEW_VERSION)
            tags = body.tags
            _expect(body.exclude_from_latest is True, "still in latest")
            _expect(tags.get(lt.STATE) == lt.STATE_REVOKED, f"tag {lt.STATE} is {tags.get(lt.STATE)!r}")
            _expect(tags.get(lt.REVOKED_REASON) == REVOKE_REASON, f"tag {lt.REVOKED_REASON} missing")

        at = self._at(EXPIRY_AFTER + timedelta(minutes=1))
        self._converge(Trigger("cli", scope=request.version.id, gate=request), check, at=at)

    def in_use(self) -> str:
        """The app's in-use check (VMs, scale sets and their instances in the subscription), run as a plan:
        a delete is only planned when the check completed and found the version unused. The revoked
        version is due; the expired one is not deleted, because with the newer one revoked it is the newest
        healthy version again, which `keep_latest: 1` keeps."""

        def check(report: RunReport) -> str:
            deletes = {
                a.target.rsplit("/", 1)[-1]
                for plan in report.plans
                for a in plan.actions
                if a.kind is ActionKind.DELETE
            }
            versions = {v.version: v for plan in report.plans for v in plan.versions}
            why = "; ".join(f"{v.version}: {v.protected or ', '.join(v.notes)}" for v in versions.values())
            _expect(
                deletes == {NEW_VERSION}, f"deletes planned for {sorted(deletes)}, not [{NEW_VERSION}]; {why}"
            )
            kept = versions[OLD_VERSION].protected if OLD_VERSION in versions else None
            _expect(bool(kept), f"{OLD_VERSION} is not kept: {why}")
            return f"no VM or scale set uses {NEW_VERSION}; {OLD_VERSION} kept: {kept}"

        return self._converge(self._image_trigger(), check, at=self._at(DELETE_AFTER), plan_only=True)

    def delete(self) -> str:
        def check(report: RunReport) -> None:
            left = self.scratch.versions()
            _expect(NEW_VERSION not in left, f"{NEW_VERSION} still exists after the delete")
            _expect(OLD_VERSION in left, f"{OLD_VERSION} was deleted below the keep_latest floor")

        self._converge(self._image_trigger(), check, at=self._at(DELETE_AFTER))
        gallery = parse_resource_id(self.blueprint.gallery_id)
        assert isinstance(gallery, GalleryRef)
        soft, _ = self.runtime.gallery.soft_delete(gallery)
        return "soft-deleted (restorable)" if soft else "deleted (the gallery has no soft delete)"

    # --- cleanup ----------------------------------------------------------------------------------------
    def remove_versions(self) -> None:
        for version in self.scratch.versions():
            self._patiently(_call(self.scratch.delete_version, version))()

    def _patiently(self, remove: Callable[[], None]) -> Callable[[], None]:
        """A removal retried while Azure answers that the resource is busy (a version still being created
        when the run was interrupted: 409 until its operation ends), up to the run's timeout."""

        def attempt() -> None:
            deadline = time.monotonic() + self.timeout_seconds
            while True:
                try:
                    remove()
                    return
                except RetryableError:
                    if time.monotonic() > deadline:
                        raise
                    self.sleep(max(self.poll_seconds, 1.0))

        return attempt

    # --- helpers ----------------------------------------------------------------------------------------
    def _at(self, offset: timedelta) -> datetime:
        assert self.started is not None
        return self.started + offset

    def _image_trigger(self) -> Trigger:
        return Trigger("cli", scope=self.image_id)

    def _converge(
        self,
        first: Trigger,
        check: Callable[[RunReport], T],
        *,
        at: datetime | None = None,
        plan_only: bool = False,
    ) -> T:
        """Reconcile with `first`, then with plain reconciles of the image, until `check` holds."""
        deadline = time.monotonic() + self.timeout_seconds
        trigger = first
        while True:
            report, busy = self._reconcile(trigger, at=at, plan_only=plan_only)
            try:
                return check(report)
            except StepFailed as exc:
                if time.monotonic() > deadline:
                    last = f"; last retryable failure: {busy}" if busy else ""
                    raise StepFailed(f"{exc} (still after {self.timeout_seconds:g} s{last})") from exc
            trigger = self._image_trigger()
            self.sleep(self.poll_seconds)

    def _reconcile(
        self, trigger: Trigger, *, at: datetime | None = None, plan_only: bool = False
    ) -> tuple[RunReport, str | None]:
        """One run of the app's reconcile. Errors of the run, refusals and permanent failures of actions
        fail the step; a retryable failure (busy, throttled) is returned for the next try."""
        report = reconcile(trigger, runtime=self.runtime, at=at, plan_only=plan_only)
        if report.no_policy:
            raise StepFailed(f"the generated policy was not accepted: {'; '.join(report.errors)}")
        problems = list(report.errors) + [f"refused: {r}" for r in report.refused]
        busy = None
        for outcome in report.outcomes:
            if not outcome.error:
                continue
            text = f"{outcome.action.kind.value} {outcome.action.target.rsplit('/', 1)[-1]}: {outcome.error}"
            if outcome.retryable:
                busy = text
            else:
                problems.append(text)
        if problems:
            raise StepFailed("; ".join(problems))
        return report, busy

    def _version(self, version: str) -> ScratchVersion:
        body = self.scratch.version(version)
        if body is None:
            raise StepFailed(f"version {version} not found")
        return body


def _call(function: Callable[[str], None], argument: str) -> Callable[[], None]:
    return lambda: function(argument)


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise StepFailed(problem)


def _replication(version: ScratchVersion) -> tuple[bool, str]:
    """Whether every region reports Completed (Succeeded alone is not replicated), and a summary."""
    summary = version.replication
    text = ", ".join(f"{s.region} {s.state} {s.progress}%" for s in summary)
    done = (
        version.provisioning_state == "Succeeded"
        and len(summary) >= 2
        and all(str(s.state) == "Completed" for s in summary)
    )
    return done, f"{version.provisioning_state}; {text or 'no replication status'}"
