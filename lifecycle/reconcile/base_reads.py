"""The reads provenance needs in one run, each made at most once per run: the versions of a gallery image
that versions are built on (is the parent revoked? what does its `latest` resolve to?), and the versions
of a Marketplace sku. Also what this run revoked, so a child reconciled later in the same run sees it.

Only galleries in the policy are read: the app's permissions cover them and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable

from lifecycle.gateways.errors import GatewayError, NotFoundError
from lifecycle.gateways.ports import Gallery, StateStore
from lifecycle.model import (
    ImageDeprecation,
    ImageRef,
    ObservedImage,
    ObservedVersion,
    VersionRef,
    parse_version_id,
)
from lifecycle.planning.gates import parent_key
from lifecycle.planning.lineage import (
    BaseImageError,
    BaseObservation,
    MarketplaceImage,
    gallery_update,
    is_revoked,
    marketplace_update,
    parse_base_image,
)
from lifecycle.policy import Policy

log = logging.getLogger(__name__)


class BaseReads:
    """Run-wide, thread-safe cache of the base reads; failures are cached too (one try per run)."""

    def __init__(
        self,
        gallery: Gallery,
        policy: Policy,
        on_problem: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._gallery = gallery
        self._policy = policy
        # A read ARM refused (a 403 names the action and scope) is an error of the run, not only a note.
        self._on_problem = on_problem or (lambda target, what, error: None)
        self._lock = threading.Lock()
        self._images: dict[str, ObservedImage | str] = {}
        self._skus: dict[tuple[str, str, str, str, str], list[str] | str] = {}
        self._revoked: set[str] = set()
        self._deprecations: dict[tuple[str, ...], ImageDeprecation | str] = {}
        self._shared: tuple[StateStore, str] | None = None
        # One read per key even when images plan at the same time: the others wait for its answer.
        self._flights: dict[tuple[str, ...], threading.Lock] = {}

    def share(self, store: StateStore, sweep: str) -> None:
        """Share Marketplace lists with the other images of the same sweep (fan-out runs each image apart):
        the first to list a sku keeps the answer in the state container, the others of that sweep read it."""
        self._shared = (store, sweep)

    def _shared_list(self, key: str) -> tuple[list[str] | None, str | None]:
        if self._shared is None:
            return None, None
        store, sweep = self._shared
        try:
            document, etag = store.read_json(_shared_name(key))
        except GatewayError:
            return None, None  # the cache is only a saving: ARM is asked instead
        if document and document.get("sweep") == sweep and isinstance(document.get("versions"), list):
            return [str(v) for v in document["versions"]], etag
        return None, etag

    def _keep_list(self, key: str, versions: list[str], etag: str | None) -> None:
        if self._shared is None:
            return
        store, sweep = self._shared
        # Another image of the sweep kept it first (PreconditionFailed), or the store is out of reach: the
        # list is in hand either way.
        with contextlib.suppress(GatewayError):
            store.write_json(_shared_name(key), {"sweep": sweep, "sku": key, "versions": versions}, etag=etag)

    # -- what this run revoked ------------------------------------------------------------------------------
    def note_revoked(self, version_ids: Iterable[str]) -> None:
        with self._lock:
            self._revoked.update(v.lower() for v in version_ids)

    # -- reads ---------------------------------------------------------------------------------------------
    def _flight(self, key: tuple[str, ...]) -> threading.Lock:
        with self._lock:
            return self._flights.setdefault(key, threading.Lock())

    def image(self, ref: ImageRef) -> ObservedImage | str:
        """The image's versions, or why they could not be read."""
        with self._flight(("image", ref.key())):
            return self._image(ref)

    def _image(self, ref: ImageRef) -> ObservedImage | str:
        key = ref.key()
        with self._lock:
            if key in self._images:
                return self._images[key]
        found: ObservedImage | str
        if self._policy.for_image(ref) is None and self._policy.gallery(ref.gallery_ref) is None:
            found = f"{ref.id} is not in a gallery of the policy"
        else:
            try:
                # One list of the image's versions; its own location and tags are not needed here.
                found = self._gallery.read_image(ref, "", {})
            except NotFoundError:
                found = f"{ref.id} not found"
            except GatewayError as exc:
                found = f"cannot read {ref.id}: {exc}"
                self._on_problem(
                    ref.id, "reading a base image failed, what is built on it is not checked", str(exc)
                )
        with self._lock:
            self._images[key] = found
        return found

    def marketplace(self, subscription: str, location: str, base: MarketplaceImage) -> list[str] | str:
        with self._flight(("sku", subscription.lower(), location.lower(), *base.key())):
            return self._marketplace(subscription, location, base)

    def _marketplace(self, subscription: str, location: str, base: MarketplaceImage) -> list[str] | str:
        key = (subscription.lower(), location.lower(), *base.key())
        with self._lock:
            if key in self._skus:
                return self._skus[key]
        found: list[str] | str
        shared_key = "|".join(key)
        kept, etag = self._shared_list(shared_key)
        if kept is not None:
            with self._lock:
                self._skus[key] = kept
            return kept
        try:
            found = self._gallery.marketplace_versions(
                subscription, location, base.publisher, base.offer, base.sku
            )
            self._keep_list(shared_key, found, etag)
        except GatewayError as exc:
            found = (
                f"cannot list the versions of {base.publisher}:{base.offer}:{base.sku} in {location}: {exc}"
            )
            if not isinstance(exc, NotFoundError):  # a sku that does not exist is a bad tag, not a failure
                what = "listing a Marketplace base image failed, no base rebake is decided"
                self._on_problem(f"{base.publisher}:{base.offer}:{base.sku}", what, str(exc))
        with self._lock:
            self._skus[key] = found
        return found

    def deprecation(self, subscription: str, location: str, base: MarketplaceImage) -> ImageDeprecation | str:
        """A Marketplace base version's deprecation status, or why it could not be read (one GET per base per
        run; a failure is an error of the run, and nothing is decided on it)."""
        key = ("deprecation", subscription.lower(), location.lower(), *base.key(), base.version)
        with self._flight(key):
            with self._lock:
                if key in self._deprecations:
                    return self._deprecations[key]
            found: ImageDeprecation | str
            try:
                found = self._gallery.marketplace_deprecation(
                    subscription, location, base.publisher, base.offer, base.sku, base.version
                )
            except GatewayError as exc:
                found = f"cannot read {base.urn} in {location}: {exc}"
                if not isinstance(exc, NotFoundError):
                    what = "reading a Marketplace base image failed, its deprecation is not checked"
                    self._on_problem(base.urn, what, str(exc))
            with self._lock:
                self._deprecations[key] = found
            return found

    # -- what the planner gets ------------------------------------------------------------------------------
    def revoked_bases(self, versions: Iterable[ObservedVersion]) -> frozenset[str]:
        """The lower-cased ids of revoked versions among the parents of `versions`."""
        revoked: set[str] = set()
        for version in versions:
            key = parent_key(version)
            if key is None:
                continue
            with self._lock:
                if key in self._revoked:
                    revoked.add(key)
                    continue
            parent = parse_version_id(key)
            found = self.image(parent.image_ref)
            if isinstance(found, str):
                continue
            observed = next((v for v in found.versions if v.name == parent.name), None)
            if observed is not None and is_revoked(observed):
                revoked.add(key)
        return frozenset(revoked)

    def base_update(self, subscription: str, version: ObservedVersion, value: str) -> BaseObservation:
        """Whether the base `value` of `version` has a newer version; problems are named, never raised."""
        try:
            base = parse_base_image(value)
        except BaseImageError as exc:
            return BaseObservation(value, problem=str(exc))
        if isinstance(base, VersionRef):
            found = self.image(base.image_ref)
            if isinstance(found, str):
                return BaseObservation(base.id, problem=found)
            return gallery_update(base, found)
        listed = self.marketplace(subscription, version.location, base)
        if isinstance(listed, str):
            return BaseObservation(base.urn, problem=listed)
        return marketplace_update(base, listed)


def _shared_name(key: str) -> str:
    return f"bases/{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
