"""Role-based access control as ARM enforces it: every ARM request's action must be granted to the caller
at the request's scope or above, else 403 `AuthorizationFailed`; and a write that links to another
resource (a disk encryption set) needs that resource's read as well, else 403 `LinkedAuthorizationFailed`
(`linked_reads`).

The document is the shape `python -m lifecycle permissions --json` prints:
`{"assignments": [{"scope": "/subscriptions/<s>[/resourceGroups/<rg>]", "actions": ["...", ...]}],
  "principal": "<bearer token>"}`. `{"assignments": null}` turns enforcement off (the default).

Principals. ARM authorizes the principal a token was issued to. The emulator has no directory, so the
bearer token itself stands for the principal: with `"principal"` set, the assignments bind the requests
that carry exactly that token, and every other token is unrestricted (as an Owner would be: the test
harness sets fleets up through the SDK with its own token). Without `"principal"` the assignments bind
every token. The client id in the error is a GUID derived from the token, never the token itself.

Action names. `<provider>/<type path>/read|write|delete` by HTTP method, `<provider>/<type path>/<action>/
action` for a POST to an action: the naming of the provider operations lists, e.g.
`Microsoft.Compute/galleries/images/versions/write`, `Microsoft.Compute/virtualMachineScaleSets/
virtualMachines/read`, `Microsoft.Compute/locations/capsOperations/read` (operation status polling) and
`Microsoft.VirtualMachineImages/imageTemplates/run/action` (source: ../shared/reference/rbac/
provider-operations.json, extracted from https://learn.microsoft.com/azure/role-based-access-control/
permissions/compute, and rbac/imagebuilder_OperationsList.2024-02-01.json, Azure/azure-rest-api-specs
Microsoft.VirtualMachineImages Operations_List example).

Operation status. Polling `.../locations/{loc}/capsOperations/{id}` (or `operations`) is authorized like any
read, as `Microsoft.Compute/locations/capsOperations/read` at the subscription (the operations list names the
action; the message scope of location-based paths is the subscription, Azure/vagrant-azure#164). Whether ARM
checks status polls against RBAC at all is not confirmed here: the stricter reading is taken.

Scopes. A grant applies at its scope and every scope below it (learn.microsoft.com/azure/
role-based-access-control/scope-overview: "permissions are inherited by child scopes"); a grant at a
resource group does not cover a list at the subscription. Scope ids compare case-insensitively, as ARM
resource ids do. A trailing `*` in an action is a wildcard, as in role definitions (`Microsoft.Compute/*`,
`*/read`): learn.microsoft.com/azure/role-based-access-control/role-definitions#actions.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from emulator.arm import ArmPath
from emulator.errors import ArmError

_PRINCIPAL_NAMESPACE = uuid.UUID("6f1c3c52-2f0e-4b43-9d0c-6f1b6c0e7a11")
_VERBS = {"GET": "read", "HEAD": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}


@dataclass(frozen=True)
class Assignment:
    scope: str  # lower-cased, no trailing slash
    patterns: tuple[re.Pattern[str], ...]


def request_action(method: str, path: ArmPath) -> str:
    """The operation name ARM authorizes for this request: a POST's last path segment is its action
    (`.../imageTemplates/{t}/run` -> `Microsoft.VirtualMachineImages/imageTemplates/run/action`)."""
    types = "/".join(path.types)
    if method == "POST":
        return f"{path.provider}/{types}/action"
    if [t.lower() for t in path.types] == ["galleries", "softdeletedartifacttypes", "artifacts", "versions"]:
        # SoftDeletedResource_ListByArtifactName (and the permanent delete of an artifact): Learn's
        # Microsoft.Compute operations table (../shared/reference/rbac/provider-operations.json) names no
        # operation for this path, so no role could grant the name the path spells. Unconfirmed: the
        # artifacts are image versions, and the emulator asks for the image versions' own action.
        return f"{path.provider}/galleries/images/versions/{_VERBS.get(method, 'write')}"
    return f"{path.provider}/{types}/{_VERBS.get(method, 'write')}"


def message_scope(path: ArmPath) -> str:
    """The scope ARM's AuthorizationFailed message names for a request.

    - Location-based proxy resources (`/subscriptions/{s}/providers/{p}/locations/...`): the subscription,
      e.g. "...perform action 'Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/
      read' over scope '/subscriptions/aef08ef7-...'" (Azure/vagrant-azure#164).
    - A list (collection GET): the path without the collection's type, e.g. "...action
      'Microsoft.Compute/virtualMachines/read' over scope '/subscriptions/.../resourceGroups/{rg}/providers/
      Microsoft.Compute'" (Azure/azure-sdk-for-go#3117, Azure/azure-sdk-for-net#1157).
    - A resource or an action on it: the resource id, e.g. "...action 'Microsoft.Storage/storageAccounts/
      write' over scope '/subscriptions/.../providers/Microsoft.Storage/storageAccounts/clusterixgbq'"
      (Azure/ARO-RP#66) and "'Microsoft.Compute/virtualMachines/read' over scope '.../virtualMachines/
      {name}'" (pivotal-cf/terraforming-azure#71).
    """
    base = f"/subscriptions/{path.subscription}"
    if path.types and path.types[0].lower() == "locations":
        return base
    if path.resource_group is not None:
        base += f"/resourceGroups/{path.resource_group}"
    base += f"/providers/{path.provider}"
    # Pairs of (type, name): a list's collection type and an action's name have no name and drop out.
    return base + "".join(f"/{t}/{n}" for t, n in zip(path.types, path.names, strict=False))


def _pattern(action: str) -> re.Pattern[str]:
    # `*` matches any run of characters, as in role definitions; everything else is literal.
    return re.compile("^" + ".*".join(re.escape(part) for part in action.split("*")) + "$", re.IGNORECASE)


def _normalize_scope(scope: str) -> str:
    return "/" + scope.strip().strip("/").lower() if scope.strip("/ ") else ""


def client_id(token: str) -> str:
    """A stable object id for a bearer token: the error names the principal without echoing the token."""
    return str(uuid.uuid5(_PRINCIPAL_NAMESPACE, token))


class Rbac:
    """The assignments in force (None: no enforcement) and the count of denied requests."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._initial = document
        self.reset()

    def reset(self) -> None:
        """Back to the start-up document (`--rbac FILE`, or none)."""
        self.load(self._initial)
        with self._lock:
            self.denied = 0

    def load(self, document: dict[str, Any] | None) -> None:
        """Validate and apply a document; a bad one raises ArmError 400 and changes nothing."""
        assignments, principal = parse_document(document)
        with self._lock:
            self._document = (
                None if assignments is None else {"assignments": assignments, "principal": principal}
            )
            self._assignments = (
                None
                if assignments is None
                else [
                    Assignment(_normalize_scope(a["scope"]), tuple(_pattern(x) for x in a["actions"]))
                    for a in assignments
                ]
            )
            self._principal = principal

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            document = self._document or {"assignments": None, "principal": None}
            return {**document, "denied": self.denied}

    def _bound(self, token: str) -> list[Assignment] | None:
        """The assignments that bind this token's requests (None: unrestricted)."""
        with self._lock:
            assignments = self._assignments
            principal = self._principal
        if assignments is None or (principal is not None and token != principal):
            return None
        return assignments

    def check(self, token: str, method: str, path: ArmPath, request_path: str) -> None:
        """Raise 403 AuthorizationFailed unless an assignment grants this request's action at its scope."""
        assignments = self._bound(token)
        if assignments is None:
            return
        action = request_action(method, path)
        if _granted(assignments, action, request_path):
            return
        raise self._refused(token, action, message_scope(path))

    def check_action(self, token: str, action: str, scope: str) -> None:
        """Raise 403 AuthorizationFailed unless `action` is granted at `scope` or above: for requests whose
        action is not derived from their path, such as ARM's Tags API at a resource's scope
        (`Microsoft.Resources/tags/write` over `{resource id}/providers/Microsoft.Resources/tags/default`)."""
        assignments = self._bound(token)
        if assignments is None or _granted(assignments, action, scope):
            return
        raise self._refused(token, action, scope)

    def _refused(self, token: str, action: str, scope: str) -> ArmError:
        """Count a denial and give ARM's 403 for it."""
        with self._lock:
            self.denied += 1
        who = client_id(token)
        # ARM's text, verbatim but for the values: "The client '{id}' with object id '{id}' does not have
        # authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access
        # was recently granted, please refresh your credentials." (403, code AuthorizationFailed; quoted in
        # Azure/Azure-Landing-Zones#3668, Azure/azure-cli#29802, MicrosoftDocs/azure-docs#77897).
        return ArmError(
            403,
            "AuthorizationFailed",
            f"The client '{who}' with object id '{who}' does not have authorization to perform action "
            f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
            "please refresh your credentials.",
        )

    def check_linked(self, token: str, method: str, path: ArmPath, body: bytes) -> None:
        """Raise 403 LinkedAuthorizationFailed unless the caller may also read every resource the request
        body links to (see `linked_reads`); called once the request's own action was granted."""
        assignments = self._bound(token)
        if assignments is None:
            return
        missing = [
            (a, scope) for a, scope in linked_reads(method, path, body) if not _granted(assignments, a, scope)
        ]
        if not missing:
            return
        with self._lock:
            self.denied += 1
        who = client_id(token)
        # ARM's text for a linked check, verbatim but for the values (403, code LinkedAuthorizationFailed,
        # a disk write naming a disk encryption set: kubernetes-sigs/azuredisk-csi-driver#2609): "The client
        # '{id}' with object id '{id}' has permission to perform action 'Microsoft.Compute/disks/write' on
        # scope '{disk}'; however, it does not have permission to perform action(s) 'Microsoft.Compute/
        # diskEncryptionSets/read' on the linked scope(s) '{set}' (respectively) or the linked scope(s) are
        # invalid." How several missing links are joined is not confirmed: comma-separated here.
        actions = ",".join(f"'{a}'" for a, _ in missing)
        scopes = ",".join(f"'{scope}'" for _, scope in missing)
        raise ArmError(
            403,
            "LinkedAuthorizationFailed",
            f"The client '{who}' with object id '{who}' has permission to perform action "
            f"'{request_action(method, path)}' on scope '{message_scope(path)}'; however, it does not have "
            f"permission to perform action(s) {actions} on the linked scope(s) {scopes} (respectively) or "
            "the linked scope(s) are invalid.",
        )


def _granted(assignments: list[Assignment], action: str, scope: str) -> bool:
    where = _normalize_scope(scope)
    return any(
        (where == a.scope or where.startswith(a.scope + "/")) and any(p.match(action) for p in a.patterns)
        for a in assignments
    )


DES_READ = "Microsoft.Compute/diskEncryptionSets/read"


def linked_reads(method: str, path: ArmPath, body: bytes) -> list[tuple[str, str]]:
    """(action, scope) of each resource a write's body links to that ARM checks the caller may read.

    A disk encryption set named by a write: ARM checks `diskEncryptionSets/read` on it for a managed disk
    (kubernetes-sigs/azuredisk-csi-driver#2609, quoted above). For a gallery image version the same check
    is not confirmed: the stricter reading is taken, on every set the body names. EncryptionImages
    (gallery spec, GalleryRP 2025-03-03) sits in `targetRegions[].encryption` and
    `targetExtendedLocations[].encryption`, and names a set in `osDiskImage` and `dataDiskImages[]`
    `diskEncryptionSetId` and in `osDiskImage` `securityProfile.secureVMDiskEncryptionSetId`
    (OSDiskImageSecurityProfile, a confidential VM's set).
    An update resends the whole `targetRegions`, unchanged regions included, so their sets are named too.
    """
    types = [t.lower() for t in path.types]
    if method not in ("PUT", "PATCH") or path.provider.lower() != "microsoft.compute":
        return []
    if types != ["galleries", "images", "versions"] or len(path.names) != 3:
        return []
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return []  # the handler answers a body that is not JSON
    profile = ((document.get("properties") or {}) if isinstance(document, dict) else {}).get(
        "publishingProfile"
    )
    targets: list[Any] = []
    for key in ("targetRegions", "targetExtendedLocations"):
        listed = profile.get(key) if isinstance(profile, dict) else None
        targets += listed if isinstance(listed, list) else []
    found: dict[str, str] = {}
    for target in targets:
        encryption = target.get("encryption") if isinstance(target, dict) else None
        if not isinstance(encryption, dict):
            continue
        os_disk = encryption.get("osDiskImage")
        disks = [os_disk]
        data = encryption.get("dataDiskImages")
        disks += data if isinstance(data, list) else []
        names = [disk.get("diskEncryptionSetId") if isinstance(disk, dict) else None for disk in disks]
        security = os_disk.get("securityProfile") if isinstance(os_disk, dict) else None
        if isinstance(security, dict):
            names.append(security.get("secureVMDiskEncryptionSetId"))
        for des in names:
            if isinstance(des, str) and des.strip():
                found.setdefault(des.lower(), des)
    return [(DES_READ, des) for des in found.values()]


def parse_document(document: Any) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(assignments or None, principal or None) of an RBAC document; ArmError 400 naming what is wrong."""
    if document is None:
        return None, None
    if not isinstance(document, dict) or "assignments" not in document:
        raise _bad('expected {"assignments": [{"scope", "actions"}] | null[, "principal": "<token>"]}')
    principal = document.get("principal")
    if principal is not None and (not isinstance(principal, str) or not principal.strip()):
        raise _bad("principal must be a non-empty string (the bearer token the assignments bind)")
    raw = document["assignments"]
    if raw is None:
        return None, None
    if not isinstance(raw, list):
        raise _bad("assignments must be a list or null")
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise _bad(f"assignments[{index}] must be an object with scope and actions")
        scope, actions = item.get("scope"), item.get("actions")
        if not isinstance(scope, str) or not (
            scope.strip() == "/" or scope.lower().startswith("/subscriptions/")
        ):
            raise _bad(
                f"assignments[{index}].scope must be '/' or start with /subscriptions/ (got {scope!r})"
            )
        if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
            raise _bad(f"assignments[{index}].actions must be a list of action names")
        out.append({"scope": scope, "actions": list(actions)})
    return out, principal


def _bad(message: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent", f"RBAC document: {message}")
