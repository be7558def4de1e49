"""The run's scope: the image definitions a trigger names (a version, an image, a gallery, or the whole
policy) that the policy covers, in listing order. What is out of scope or not found is told as a skip;
a gallery out of reach is an error of the run and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Iterator

from lifecycle.gateways.errors import GatewayError
from lifecycle.model import GalleryRef, ImageRef, InvalidResourceId, VersionRef, parse_resource_id
from lifecycle.policy import Policy
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Kind, Note, failure
from lifecycle.reconcile.runtime import Target


def targets(frame: RunFrame, policy: Policy, scope_id: str | None) -> Iterator[Target]:
    """The image definitions in `scope_id` (None: every gallery of the policy) that the policy covers."""
    report = frame.report
    scope: GalleryRef | ImageRef | VersionRef | None = None
    if scope_id:
        try:
            scope = parse_resource_id(scope_id)
        except InvalidResourceId as exc:
            report.errors.append(Note(Kind.PERMANENT, "", str(exc)))
            return
    if isinstance(scope, VersionRef):
        scope = scope.image_ref
    if isinstance(scope, ImageRef):
        image_policy = policy.for_image(scope)
        if image_policy is None:
            report.skipped.append(Note(Kind.OUT_OF_SCOPE, scope.id, "not in the policy's scope"))
            return
        found = frame.rt.gallery.get_image(scope)
        if found is None:
            report.skipped.append(Note(Kind.NOT_FOUND, scope.id, "image definition not found"))
            return
        yield Target(image_policy, scope, found[0], found[1])
        return
    for gallery in policy.galleries:
        ref = gallery.ref
        if isinstance(scope, GalleryRef) and scope.key() != ref.key():
            continue
        try:
            images = frame.rt.gallery.list_images(ref)
        except GatewayError as exc:
            # One gallery out of reach must not stop the others.
            report.errors.append(failure(ref.id, exc))
            continue
        for image, location, tags in images:
            image_policy = policy.for_image(image)
            if image_policy is not None:
                yield Target(image_policy, image, location, tags)
    if isinstance(scope, GalleryRef) and policy.gallery(scope) is None:
        report.skipped.append(Note(Kind.OUT_OF_SCOPE, scope.id, "not in the policy's scope"))


def event_image(frame: RunFrame, policy: Policy) -> ImageRef | None:
    """The image an accepted event concerns, without an ARM read; None (told in the report) when its id
    is invalid or the policy does not cover it."""
    trigger = frame.trigger
    try:
        scope = parse_resource_id(trigger.scope or "")
    except InvalidResourceId as exc:
        frame.report.errors.append(Note(Kind.PERMANENT, "", str(exc)))
        return None
    image = scope.image_ref if isinstance(scope, VersionRef) else scope
    if not isinstance(image, ImageRef) or policy.for_image(image) is None:
        frame.report.skipped.append(Note(Kind.OUT_OF_SCOPE, trigger.scope or "", "not in the policy's scope"))
        return None
    return image
