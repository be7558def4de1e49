"""Release gates: approval before a new version enters `latest`, revocation, and revocation inherited from
the version a version was built on. Pure: approvals and revocations made through the CLI or an event come
in as the image's remembered state, the parents' revocation as the set of revoked base ids read this run.

* Approved: the version carries `lifecycle.approved-by`, or an approval is remembered for it.
* Held for approval (`approval.required`): a version the app has not yet made active (no `lifecycle.state`,
  or `pending` / `pending-approval`) and not approved. Versions already active when the gate is turned on
  stay in `latest`.
* Revoked: `lifecycle.state=revoked` on the version, a remembered revocation, or (with
  `ancestry.inherit_revocation`) a `lifecycle.base-image` that names a revoked version. Revoked is final:
  never promoted again, whatever approves it later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lifecycle import tags as lt
from lifecycle.model import InvalidResourceId, ObservedVersion, parse_version_id
from lifecycle.policy import ImagePolicy
from lifecycle.state import GateRecord, ImageState

# lifecycle.state values under which a version has not been admitted to `latest` by the app yet.
NOT_ADMITTED = (None, lt.STATE_PENDING, lt.STATE_PENDING_APPROVAL, lt.STATE_PENDING_VALIDATION)


@dataclass(frozen=True)
class Gate:
    """What the gates say about one version."""

    approver: str | None = None  # who approved it (tag, or a remembered approval)
    approval_to_tag: str | None = None  # a remembered approval whose tag is not on the version yet
    revoked: str | None = None  # why it is (to be) revoked
    newly_revoked: bool = False  # revoked, but not tagged so yet: announce it
    parent_revoked: str | None = None  # the revoked version it was built on
    parent: str | None = None  # its `lifecycle.base-image`


def parent_key(version: ObservedVersion) -> str | None:
    """The lower-cased gallery version id this version was built on, if its base is a gallery version."""
    base = lt.get(version.tags, lt.BASE_IMAGE)
    if not base or not base.startswith("/"):
        return None
    try:
        return parse_version_id(base).key()
    except InvalidResourceId:
        return None


def assess(
    policy: ImagePolicy,
    version: ObservedVersion,
    state: ImageState,
    revoked_bases: frozenset[str] = frozenset(),
) -> Gate:
    current = (lt.get(version.tags, lt.STATE) or "").lower()
    parent = lt.get(version.tags, lt.BASE_IMAGE)
    key = parent_key(version)
    parent_revoked = parent if key is not None and key in revoked_bases else None
    if parent_revoked is None:
        parent_revoked = lt.get(version.tags, lt.PARENT_REVOKED)

    revoked: str | None = None
    record = state.revocations.get(version.name)
    if current == lt.STATE_REVOKED:
        revoked = lt.get(version.tags, lt.REVOKED_REASON) or "revoked"
    elif record is not None:
        revoked = record.reason or "revoked"
    elif parent_revoked is not None and policy.ancestry.inherit_revocation:
        revoked = f"built on revoked {parent_revoked}"

    tagged = lt.get(version.tags, lt.APPROVED_BY)
    approval = state.approvals.get(version.name)
    approver = tagged or (approval.by if approval else None)
    to_tag = approval.by if approval is not None and approval.by and tagged != approval.by else None
    return Gate(
        approver=approver,
        approval_to_tag=to_tag,
        revoked=revoked,
        newly_revoked=revoked is not None and current != lt.STATE_REVOKED,
        parent_revoked=parent_revoked,
        parent=parent,
    )


def held_for_approval(policy: ImagePolicy, version: ObservedVersion, gate: Gate) -> bool:
    if not policy.approval.required or gate.approver is not None:
        return False
    current = lt.get(version.tags, lt.STATE)
    return (current.lower() if current else None) in NOT_ADMITTED


def revoked_names(
    policy: ImagePolicy,
    versions: Iterable[ObservedVersion],
    state: ImageState,
    revoked_bases: frozenset[str] = frozenset(),
) -> frozenset[str]:
    return frozenset(v.name for v in versions if assess(policy, v, state, revoked_bases).revoked)


def settled(
    records: Mapping[str, GateRecord], versions: Mapping[str, ObservedVersion], landed: str
) -> dict[str, GateRecord]:
    """The remembered approvals (landed=approved-by) or revocations (landed=state) still to be written:
    those whose tag is on the version are done, those of versions that are gone are dropped."""
    out: dict[str, GateRecord] = {}
    for name, record in records.items():
        version = versions.get(name)
        if version is None:
            continue
        if landed == lt.APPROVED_BY and lt.get(version.tags, lt.APPROVED_BY) == record.by:
            continue
        if landed == lt.STATE and (lt.get(version.tags, lt.STATE) or "").lower() == lt.STATE_REVOKED:
            continue
        out[name] = record
    return out
