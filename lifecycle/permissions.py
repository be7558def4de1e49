"""The permissions the app needs for a policy, derived from the policy alone (pure: no I/O, no clock).

Owns the list of ARM actions the gateways perform and where each one is checked. ARM authorizes a request
at the request's own scope (a list of VMs at `/subscriptions/<s>` needs `virtualMachines/read` granted at
that subscription or above), so each action is granted at the narrowest scope that still contains every
request the app makes with it:

- each gallery's resource group: read the gallery (soft delete, sharing), list and read image
  definitions, list, read, update and delete image versions (lifecycle/gateways/gallery.py);
- each subscription whose machines may use the galleries (the galleries' own subscriptions plus
  `galleries[].consumer_subscriptions`): list VMs and scale sets, the in-use check
  (GalleryGateway.usage);
- each rebake template's resource group: read the template's last run and start a run
  (lifecycle/gateways/imagebuilder.py);
- each subscription of a gallery with an image that rebakes on a base update or deprecation, or caps
  end-of-life at its base's deprecation: list a Marketplace image's versions and read one version's
  deprecation status (`rebake.on_base_update`, `rebake.on_base_deprecation`,
  `retention.cap_at_base_deprecation`; a gallery base is read with the gallery actions above);
- each resource group of a disk encryption set the policy names (`replication.disk_encryption_sets`):
  read the set. A version update that names a set is checked by ARM against the caller's read of it as a
  linked scope (403 `LinkedAuthorizationFailed`, as for managed disks; see emulator/rbac.py).

Writes and deletes start long-running operations with `polling=False` and are observed by later reads, so
the app never reads `locations/capsOperations` (which, being at subscription scope, a resource-group grant
would not cover anyway).

Data-plane roles (Event Grid, Storage) are not ARM actions on these scopes: they are listed apart in
`data_roles`, for the resources the deployment creates.

Action names are those of the provider operations lists (learn.microsoft.com/azure/role-based-access-control/
permissions/compute and the Microsoft.VirtualMachineImages Operations_List). Any new ARM call in the
gateways must be added here, or the integration tests (run under exactly this output) get 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lifecycle.policy import Policy, merged_sections

GALLERY_ACTIONS: tuple[tuple[str, str], ...] = (
    (
        "Microsoft.Compute/galleries/read",
        "read the gallery's sharing and soft-delete policy before a delete (and its shared names)",
    ),
    ("Microsoft.Compute/galleries/images/read", "list and read the gallery's image definitions"),
    (
        "Microsoft.Compute/galleries/images/versions/read",
        "list versions, read replication progress and validations, list soft-deleted versions",
    ),
    (
        "Microsoft.Compute/galleries/images/versions/write",
        "update versions: regions, end-of-life, excludeFromLatest; restore soft-deleted versions",
    ),
    ("Microsoft.Compute/galleries/images/versions/delete", "delete retired versions"),
    (
        "Microsoft.Resources/tags/write",
        "set lifecycle tags through the Tags API (merged: tags others set are never erased)",
    ),
)
# The integration tests prove every action listed is used, and every call is listed.
IN_USE_ACTIONS: tuple[tuple[str, str], ...] = (
    ("Microsoft.Compute/virtualMachines/read", "in-use check: list the subscription's VMs"),
    ("Microsoft.Compute/virtualMachineScaleSets/read", "in-use check: list the subscription's scale sets"),
    (
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
        "in-use check: list Uniform scale sets' instances (by their model and exactVersion)",
    ),
)
TEMPLATE_ACTIONS: tuple[tuple[str, str], ...] = (
    ("Microsoft.VirtualMachineImages/imageTemplates/read", "rebake: read the template's last run"),
    ("Microsoft.VirtualMachineImages/imageTemplates/run/action", "rebake: start a template run"),
)
# VirtualMachineImages_List is a subscription-level path (/subscriptions/<s>/providers/Microsoft.Compute/
# locations/...), so only a grant at the subscription covers it; the app calls it in the subscription of
# the image whose base it checks (lifecycle/gateways/gallery.py marketplace_versions).
MARKETPLACE_ACTIONS: tuple[tuple[str, str], ...] = (
    (
        "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read",
        "rebake.on_base_update: list a Marketplace base image's versions; rebake.on_base_deprecation, "
        "retention.cap_at_base_deprecation: read its deprecation status",
    ),
)
# An update resends every target region, so each set a version of the policy uses is named on every write.
ENCRYPTION_ACTIONS: tuple[tuple[str, str], ...] = (
    (
        "Microsoft.Compute/diskEncryptionSets/read",
        "update encrypted versions: ARM's linked check on each disk encryption set named",
    ),
)
_ALL_ACTIONS = (
    *GALLERY_ACTIONS,
    *IN_USE_ACTIONS,
    *TEMPLATE_ACTIONS,
    *MARKETPLACE_ACTIONS,
    *ENCRYPTION_ACTIONS,
)
# The order actions are printed in (and the order the Bicep lists them in).
ACTION_ORDER = tuple(name for name, _ in _ALL_ACTIONS)
WHY = dict(_ALL_ACTIONS)


@dataclass(frozen=True)
class DataRole:
    """A data-plane role on a resource the deployment creates (not an ARM action on the policy's scopes)."""

    role: str
    role_id: str
    resource: str
    data_actions: tuple[str, ...]
    why: str

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "role_id": self.role_id,
            "resource": self.resource,
            "data_actions": list(self.data_actions),
            "why": self.why,
        }


# Built-in role ids: learn.microsoft.com/azure/role-based-access-control/built-in-roles.
DATA_ROLES: tuple[DataRole, ...] = (
    DataRole(
        "EventGrid Data Sender",
        "d5a91429-5739-47e2-a06b-3470a27159e7",
        "the lifecycle events topic (LIFECYCLE_EVENTS_ENDPOINT)",
        ("Microsoft.EventGrid/events/send/action",),
        "publish ImageLifecycle.* events; builds come in through another topic",
    ),
    DataRole(
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        "the policy container (LIFECYCLE_CONFIG_URL)",
        ("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",),
        "read the policy, never write it",
    ),
    DataRole(
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        "the state container (LIFECYCLE_STATE_URL)",
        (
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        ),
        "run state, leases, the audit log, the last accepted policy",
    ),
    DataRole(
        "Storage Queue Data Contributor",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        "the fan-out queue (LIFECYCLE_FANOUT_QUEUE) and its -poison queue",
        (
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action",
            "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
        ),
        "the sweep sends one message per image; the queue function takes them",
    ),
)


@dataclass(frozen=True)
class Assignment:
    scope: str
    actions: tuple[str, ...]
    reasons: tuple[str, ...] = field(default=())  # why this scope: which galleries, templates

    def to_json(self) -> dict[str, Any]:
        return {"scope": self.scope, "actions": list(self.actions)}


@dataclass(frozen=True)
class Permissions:
    assignments: tuple[Assignment, ...]
    data_roles: tuple[DataRole, ...] = DATA_ROLES

    def to_json(self) -> dict[str, Any]:
        """`{"assignments": [{"scope", "actions"}], "data_roles": [...]}`: the first key is what an ARM
        role assignment needs (and what the emulator's RBAC takes); data roles are kept apart."""
        return {
            "assignments": [a.to_json() for a in self.assignments],
            "data_roles": [r.to_json() for r in self.data_roles],
        }

    def actions_at(self, scope: str) -> tuple[str, ...]:
        return next((a.actions for a in self.assignments if a.scope.lower() == scope.lower()), ())


def subscription_scope(subscription: str) -> str:
    return f"/subscriptions/{subscription}"


def resource_group_scope(subscription: str, resource_group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}"


def rebake_templates(policy: Policy) -> list[str]:
    """Every Image Builder template some image of the policy runs (the merged rule per image pattern),
    when a schedule, max age or base update can make it due."""
    found: dict[str, str] = {}
    for gallery in policy.galleries:
        for override in gallery.images.values():
            rebake = merged_sections(policy.defaults, override)["rebake"]
            if rebake.image_template and (
                rebake.schedule or rebake.max_age_days or rebake.on_base_update or rebake.on_base_deprecation
            ):
                found.setdefault(rebake.image_template.lower(), rebake.image_template)
    return list(found.values())


def base_update_subscriptions(policy: Policy) -> list[str]:
    """The subscriptions of galleries where some image rebakes on a base update (the Marketplace list is
    made in the image's own subscription)."""
    found: dict[str, str] = {}
    for gallery in policy.galleries:
        if any(
            _reads_marketplace(merged_sections(policy.defaults, override))
            for override in gallery.images.values()
        ):
            found.setdefault(gallery.ref.subscription.lower(), gallery.ref.subscription)
    return list(found.values())


def _reads_marketplace(sections: Any) -> bool:
    """Whether an image's merged policy reads Marketplace base images: their versions (on_base_update) or a
    version's deprecation status (on_base_deprecation, cap_at_base_deprecation)."""
    rebake, retention = sections["rebake"], sections["retention"]
    return bool(rebake.on_base_update or rebake.on_base_deprecation or retention.cap_at_base_deprecation)


def disk_encryption_sets(policy: Policy) -> list[str]:
    """Every disk encryption set some image of the policy replicates with (the merged rule per pattern)."""
    found: dict[str, str] = {}
    for gallery in policy.galleries:
        for override in gallery.images.values():
            replication = merged_sections(policy.defaults, override)["replication"]
            for des in replication.disk_encryption_sets.values():
                found.setdefault(des.lower(), des)
    return list(found.values())


def derive(policy: Policy) -> Permissions:
    """The ARM actions the app needs for `policy`, one assignment per scope, scopes sorted."""
    grants: dict[str, tuple[str, set[str], list[str]]] = {}

    def grant(scope: str, actions: Iterable[tuple[str, str]], reason: str) -> None:
        _, names, reasons = grants.setdefault(scope.lower(), (scope, set(), []))
        names.update(name for name, _ in actions)
        if reason not in reasons:
            reasons.append(reason)

    for gallery in policy.galleries:
        ref = gallery.ref
        grant(
            resource_group_scope(ref.subscription, ref.resource_group),
            GALLERY_ACTIONS,
            f"gallery {ref.gallery}",
        )
    for subscription in policy.in_use_subscriptions():
        grant(subscription_scope(subscription), IN_USE_ACTIONS, "machines that may use the galleries")
    for subscription in base_update_subscriptions(policy):
        grant(subscription_scope(subscription), MARKETPLACE_ACTIONS, "Marketplace base images")
    for template in rebake_templates(policy):
        parts = template.strip("/").split("/")
        name = parts[-1]
        grant(resource_group_scope(parts[1], parts[3]), TEMPLATE_ACTIONS, f"image template {name}")
    for des in disk_encryption_sets(policy):
        parts = des.strip("/").split("/")
        grant(
            resource_group_scope(parts[1], parts[3]), ENCRYPTION_ACTIONS, f"disk encryption set {parts[-1]}"
        )
    assignments = tuple(
        Assignment(scope, tuple(a for a in ACTION_ORDER if a in names), tuple(reasons))
        for _, (scope, names, reasons) in sorted(grants.items())
    )
    return Permissions(assignments)


def render(permissions: Permissions) -> str:
    """The human-readable form: each scope, why it is needed, and each action with its purpose."""
    lines = ["ARM role assignments (one custom role per scope, or one role assigned at each scope):"]
    for assignment in permissions.assignments:
        lines += ["", f"{assignment.scope}", f"  for: {', '.join(assignment.reasons)}"]
        lines += [f"  {action:66} {WHY[action]}" for action in assignment.actions]
    lines += ["", "Data-plane roles on the deployment's own resources (not ARM actions):"]
    for role in permissions.data_roles:
        lines += [f"  {role.role:30} {role.resource}", f"  {'':30} {role.why}"]
    return "\n".join(lines)
