"""Blob Storage (or a local directory, for development): the policy document, remembered state with ETag
conditions, per-image leases, and the append-only audit log.

Blob access uses LIFECYCLE_STORAGE_CONNECTION_STRING when set (Azurite, accounts without identity),
else managed identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lifecycle.clients import credential
from lifecycle.gateways.errors import GatewayError, PermanentError, PreconditionFailed, RetryableError
from lifecycle.gateways.ports import StateStore as StateStore  # the interface; here for older imports
from lifecycle.settings import Settings
from lifecycle.tags import scrub

log = logging.getLogger(__name__)
STATE_CONTAINER = "lifecycle-state"
LOCAL_STATE_DIR = ".lifecycle-state"
_MAX_APPEND = 4 * 1024 * 1024 - 1024
# An append blob takes at most 50,000 blocks ("Scalability and performance targets for Blob storage":
# "Maximum number of blocks in a block blob or append blob: 50,000 blocks"); the append past it is refused
# with 409 BlockCountExceedsLimit. The day's audit log moves on to a new blob well before that, so a busy
# day (hundreds of images in dry-run, or failing, every sweep) loses no record.
# (LIFECYCLE_AUDIT_ROLLOVER_BLOCKS, 40,000 by default and never above 45,000).
APPEND_BLOB_MAX_BLOCKS = 50_000


@dataclass(frozen=True)
class PolicyDocument:
    """The policy blob's bytes and ETag. A document larger than the reader's limit is not downloaded:
    `content` is then empty and `size` says how large it is, so the caller can refuse it by name."""

    content: bytes
    etag: str
    source: str
    size: int | None = None

    @property
    def oversized(self) -> bool:
        return self.size is not None and self.size > len(self.content)


def translate_storage_error(exc: Exception, what: str) -> GatewayError:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return RetryableError(f"{what}: storage unreachable ({exc})")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = getattr(exc, "error_code", None)
        if status in (408, 429) or status >= 500:
            return RetryableError(f"{what}: storage answered {status} {code}", status=status, code=code)
        return PermanentError(
            f"{what}: storage answered {status} {code}: {exc.reason}", status=status, code=code
        )
    return PermanentError(f"{what}: {exc.__class__.__name__}: {exc}")


@dataclass(frozen=True)
class BlobLocation:
    account_url: str
    container: str
    blob: str | None


def parse_blob_url(url: str) -> BlobLocation:
    """Split a blob or container URL; path-style (Azurite: host/account/container/blob) is recognised."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise PermanentError(f"not a blob URL: {url!r}")
    parts = [unquote(p) for p in parsed.path.split("/") if p]
    host = parsed.hostname or ""
    path_style = host in ("127.0.0.1", "localhost") or host.replace(".", "").isdigit()
    base = f"{parsed.scheme}://{parsed.netloc}"
    if path_style:
        if not parts:
            raise PermanentError(f"blob URL has no account: {url!r}")
        base, parts = f"{base}/{parts[0]}", parts[1:]
    if not parts:
        raise PermanentError(f"blob URL has no container: {url!r}")
    return BlobLocation(base, parts[0], "/".join(parts[1:]) or None)


class _Blobs:
    """Shared client construction for the policy and state blobs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def container(self, location: BlobLocation) -> Any:
        from azure.storage.blob import BlobServiceClient, ContainerClient

        if self._settings.storage_connection_string:
            service = BlobServiceClient.from_connection_string(self._settings.storage_connection_string)
            return service.get_container_client(location.container)
        return ContainerClient(location.account_url, location.container, credential=credential(None))


class BlobPolicySource:
    def __init__(self, settings: Settings) -> None:
        self._location = parse_blob_url(settings.config_url)
        if not self._location.blob:
            raise PermanentError(f"LIFECYCLE_CONFIG_URL names a container, not a blob: {settings.config_url}")
        self._container = _Blobs(settings).container(self._location)
        self.url = settings.config_url

    def read(self, max_bytes: int | None = None) -> PolicyDocument:
        """Download the policy, or, when it is larger than `max_bytes`, only its size and ETag: a hostile
        50 MB blob costs one HEAD, not 50 MB of the worker's memory."""
        from azure.core import MatchConditions

        try:
            blob = self._container.get_blob_client(self._location.blob)
            properties = blob.get_blob_properties()
            etag, size = str(properties.etag), int(properties.size)
            if max_bytes is not None and size > max_bytes:
                return PolicyDocument(b"", etag, self.url, size=size)
            # The bytes of exactly that version: a blob replaced in between answers 412, read next time.
            content = blob.download_blob(
                etag=properties.etag, match_condition=MatchConditions.IfNotModified
            ).readall()
        except Exception as exc:
            raise translate_storage_error(exc, f"read policy {self.url}") from exc
        return PolicyDocument(content, etag, self.url, size=len(content))


class LocalPolicySource:
    def __init__(self, path: str) -> None:
        self.url = path
        self._path = Path(path)

    def read(self, max_bytes: int | None = None) -> PolicyDocument:
        try:
            with self._path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if max_bytes is not None and size > max_bytes:
                    stat = os.fstat(handle.fileno())
                    return PolicyDocument(b"", f"{size}-{stat.st_mtime_ns}", str(self._path), size=size)
                content = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except OSError as exc:
            raise PermanentError(f"read policy {self._path}: {exc.strerror}") from exc
        return PolicyDocument(
            content, hashlib.sha256(content).hexdigest()[:16], str(self._path), size=len(content)
        )


PolicySource = BlobPolicySource | LocalPolicySource


def policy_source(settings: Settings) -> PolicySource:
    if settings.config_is_blob:
        return BlobPolicySource(settings)
    return LocalPolicySource(settings.config_url)


class BlobStateStore:
    """State documents, leases and the audit log in one blob container.

    The audit log of a day is a series of append blobs (`audit/YYYY/MM/DD.jsonl`, then `DD.1.jsonl`, ...):
    a segment is left for the next once it holds `rollover_blocks` blocks, well before Azure's cap.
    """

    def __init__(self, settings: Settings, container_url: str, *, rollover_blocks: int | None = None) -> None:
        self._location = parse_blob_url(container_url)
        self._container = _Blobs(settings).container(self._location)
        self._ready = False
        self.rollover_blocks = rollover_blocks or settings.audit_rollover_blocks
        self._key = f"{self._location.account_url}/{self._location.container}"

    def _ensure(self) -> None:
        if self._ready:
            return
        from azure.core.exceptions import ResourceExistsError

        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        except Exception as exc:
            raise translate_storage_error(exc, f"create state container {self._location.container}") from exc
        self._ready = True

    def read_json(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:  # a missing container reads as a missing blob: reading never creates anything
            downloader = self._container.get_blob_client(name).download_blob()
            return json.loads(downloader.readall()), str(downloader.properties.etag)
        except ResourceNotFoundError:
            return None, None
        except json.JSONDecodeError as exc:
            raise PermanentError(f"state blob {name} is not JSON: {exc}") from exc
        except Exception as exc:
            raise translate_storage_error(exc, f"read state {name}") from exc

    def write_json(self, name: str, document: dict[str, Any], *, etag: str | None) -> str:
        """Write only if the blob is still at `etag` (or, with None, does not exist yet)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import ContentSettings

        self._ensure()
        body = json.dumps(document, indent=1, sort_keys=True).encode()
        blob = self._container.get_blob_client(name)
        try:
            if etag is None:
                result = blob.upload_blob(
                    body, overwrite=False, content_settings=ContentSettings(content_type="application/json")
                )
            else:
                result = blob.upload_blob(
                    body,
                    overwrite=True,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                    content_settings=ContentSettings(content_type="application/json"),
                )
        except (ResourceModifiedError, ResourceExistsError) as exc:
            raise PreconditionFailed(f"state {name} was changed by another run") from exc
        except Exception as exc:
            if getattr(exc, "status_code", None) == 412:
                raise PreconditionFailed(f"state {name} was changed by another run") from exc
            raise translate_storage_error(exc, f"write state {name}") from exc
        return str(result["etag"])

    def write_file(self, name: str, body: bytes, *, content_type: str) -> None:
        """Overwrite a whole blob (reports: the last writer wins, nothing depends on the old one)."""
        from azure.storage.blob import ContentSettings

        self._ensure()
        try:
            self._container.get_blob_client(name).upload_blob(
                body, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except Exception as exc:
            raise translate_storage_error(exc, f"write {name}") from exc

    def append_audit(self, records: Sequence[dict[str, Any]], *, day: date) -> None:
        """Append the records (one block per chunk of up to 4 MiB) to the day's current segment; a
        segment that reached `rollover_blocks`, or that Azure refuses as full, hands over to the next."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        if not records:
            return
        self._ensure()
        try:
            segment = self._current_segment(day)
            for chunk in _chunks(records):
                for _ in range(_MAX_SEGMENT_HOPS):
                    blob = self._container.get_blob_client(_audit_name(day, segment))
                    if (self._key, day, segment) not in _created_segments:
                        with contextlib.suppress(ResourceExistsError):
                            blob.create_append_blob(if_none_match="*")
                        _created_segments.add((self._key, day, segment))
                    try:
                        answer = blob.append_block(chunk)
                    except HttpResponseError as exc:
                        if getattr(exc, "error_code", None) != "BlockCountExceedsLimit":
                            raise
                        segment = self._move_on(day, segment)  # filled by others past our threshold
                        continue
                    blocks = int(answer.get("blob_committed_block_count") or 0)
                    if blocks >= self.rollover_blocks:
                        self._move_on(day, segment)
                    break
                else:
                    raise PermanentError(f"audit log of {day}: no segment took the records")
        except GatewayError:
            raise
        except Exception as exc:
            raise translate_storage_error(exc, "append to the audit log") from exc

    def _current_segment(self, day: date) -> int:
        """The segment this process appends to; found once per process and day by listing the day."""
        with _segments_lock:
            known = _segments.get((self._key, day))
        if known is not None:
            return known
        found = max(self._segments_of(day), default=0)
        with _segments_lock:
            return _segments.setdefault((self._key, day), found)

    def _move_on(self, day: date, segment: int) -> int:
        with _segments_lock:
            current = max(_segments.get((self._key, day), 0), segment + 1)
            _segments[(self._key, day)] = current
            return current

    def _segments_of(self, day: date) -> list[int]:
        prefix = _audit_name(day).removesuffix(".jsonl")
        out = []
        for blob in self._container.list_blobs(name_starts_with=prefix):
            number = _segment_number(str(blob.name), prefix)
            if number is not None:
                out.append(number)
        return sorted(out)

    def read_audit(self, day: date) -> list[dict[str, Any]]:
        """Every record of the day, segment after segment."""
        from azure.core.exceptions import ResourceNotFoundError

        records: list[dict[str, Any]] = []
        try:
            for segment in self._segments_of(day):
                try:
                    blob = self._container.get_blob_client(_audit_name(day, segment))
                    text = blob.download_blob().readall()
                except ResourceNotFoundError:
                    continue
                records += [json.loads(line) for line in text.decode().splitlines() if line.strip()]
        except ResourceNotFoundError:
            return []
        except Exception as exc:
            raise translate_storage_error(exc, "read the audit log") from exc
        return records

    @contextlib.contextmanager
    def lease(self, name: str, seconds: int) -> Iterator[None]:
        """Hold a blob lease on `leases/<name>` for the duration; another holder means try later."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        self._ensure()
        blob = self._container.get_blob_client(f"leases/{safe_blob_name(name)}")
        try:
            with contextlib.suppress(ResourceExistsError):
                blob.upload_blob(b"", overwrite=False)
            lease = blob.acquire_lease(lease_duration=seconds)
        except HttpResponseError as exc:
            if exc.status_code == 409:
                raise RetryableError(f"{name} is being reconciled by another run (lease held)") from exc
            raise translate_storage_error(exc, f"lease {name}") from exc
        except Exception as exc:
            raise translate_storage_error(exc, f"lease {name}") from exc
        try:
            with _renewing(lease.renew, seconds, name):
                yield
        finally:
            try:
                lease.release()
            except Exception:  # an expired lease releases itself
                log.warning("lease release failed", extra={"lease": name})


class LocalStateStore:
    """The same state, leases and audit log in a local directory (development and the CLI)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._root = Path(directory)

    def _path(self, name: str, *, create: bool = True) -> Path:
        path = self._root / name
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def read_json(self, name: str) -> tuple[dict[str, Any] | None, str | None]:
        path = self._path(name, create=False)
        if not path.exists():
            return None, None
        content = path.read_bytes()
        return json.loads(content), hashlib.sha256(content).hexdigest()[:16]

    def write_json(self, name: str, document: dict[str, Any], *, etag: str | None) -> str:
        """Write only if the file is still at `etag` (None: does not exist yet), like a blob's If-Match:
        the check and the write happen under a short lock, waited for (writes of other processes are
        brief), so concurrent writers see 412-like PreconditionFailed, never a lost update."""
        path = self._path(name)
        with self._write_lock(name):
            current = path.read_bytes() if path.exists() else None
            current_etag = hashlib.sha256(current).hexdigest()[:16] if current is not None else None
            if current_etag != etag:
                raise PreconditionFailed(f"state {name} was changed by another run")
            body = json.dumps(document, indent=1, sort_keys=True).encode()
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(body)
            tmp.replace(path)
        return hashlib.sha256(body).hexdigest()[:16]

    @contextlib.contextmanager
    def _write_lock(self, name: str, wait: float = 10.0) -> Iterator[None]:
        deadline = time.monotonic() + wait
        entered = False
        while True:
            try:
                with self.lease(f"write:{name}", 15):
                    entered = True
                    yield
                return
            except RetryableError:
                if entered or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def write_file(self, name: str, body: bytes, *, content_type: str) -> None:
        path = self._path(name)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(body)
        tmp.replace(path)  # readers see the old file or the new one, never half of one

    def append_audit(self, records: Sequence[dict[str, Any]], *, day: date) -> None:
        if records:
            with self._path(_audit_name(day)).open("ab") as handle:
                for chunk in _chunks(records):
                    handle.write(chunk)

    def read_audit(self, day: date) -> list[dict[str, Any]]:
        path = self._path(_audit_name(day), create=False)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @contextlib.contextmanager
    def lease(self, name: str, seconds: int) -> Iterator[None]:
        path = self._path(f"leases/{safe_blob_name(name)}.lock")
        token = uuid.uuid4().hex
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                expires = float(path.read_text().split()[1])
            except (OSError, ValueError, IndexError):
                # Created but not written yet (the holder is between its create and its write): held, for
                # as long as a lease lasts from the file's creation.
                try:
                    expires = path.stat().st_mtime + seconds
                except OSError:
                    expires = 0.0
            if expires > time.time():
                raise RetryableError(f"{name} is being reconciled by another run (lease held)") from None
            path.unlink(missing_ok=True)  # an expired lease: take it over
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:  # another run took it over first
                raise RetryableError(f"{name} is being reconciled by another run (lease held)") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{token} {time.time() + seconds}")

        def renew() -> None:
            if path.read_text().split()[0] != token:
                raise RetryableError(f"lease on {name} was taken over after it lapsed")
            tmp = path.with_suffix(f".{token}.tmp")
            tmp.write_text(f"{token} {time.time() + seconds}")
            tmp.replace(path)

        try:
            with _renewing(renew, seconds, name):
                yield
        finally:
            with contextlib.suppress(OSError):
                if path.read_text().split()[0] == token:
                    path.unlink()


@contextlib.contextmanager
def _renewing(renew: Callable[[], Any], seconds: int, name: str) -> Iterator[None]:
    """Renew a lease every third of its duration while the work inside runs: a long reconcile keeps
    its image, and a crashed one loses it within `seconds`."""
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(seconds / 3):
            try:
                renew()
            except Exception:  # the work goes on; another run may take the image once the lease lapses
                log.warning("lease renewal failed", extra={"lease": name})

    thread = threading.Thread(target=keep, name=f"lease-{safe_blob_name(name)[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def state_store(settings: Settings) -> BlobStateStore | LocalStateStore:
    """The state store the settings name; by default beside the policy (container or directory)."""
    if settings.state_url:
        if settings.state_url.startswith(("http://", "https://")):
            return BlobStateStore(settings, settings.state_url)
        return LocalStateStore(settings.state_url)
    if settings.config_is_blob:
        location = parse_blob_url(settings.config_url)
        return BlobStateStore(settings, f"{location.account_url}/{STATE_CONTAINER}")
    return LocalStateStore(Path(settings.config_url).resolve().parent / LOCAL_STATE_DIR)


def _audit_name(day: date, segment: int = 0) -> str:
    """The day's first audit blob keeps its name from before segments existed; the next ones count on."""
    return f"audit/{day:%Y/%m/%d}.jsonl" if segment == 0 else f"audit/{day:%Y/%m/%d}.{segment}.jsonl"


def _segment_number(name: str, prefix: str) -> int | None:
    rest = name[len(prefix) :] if name.startswith(prefix) else None
    if rest == ".jsonl":
        return 0
    if rest and rest.startswith(".") and rest.endswith(".jsonl") and rest[1:-6].isdigit():
        return int(rest[1:-6])
    return None


# The audit segment each (container, day) appends to in this process, and the segments known to exist.
_segments: dict[tuple[str, date], int] = {}
_created_segments: set[tuple[str, date, int]] = set()
_segments_lock = threading.Lock()
# A chunk tries at most this many segments (each found full by others) before giving up.
_MAX_SEGMENT_HOPS = 20


def safe_blob_name(name: str) -> str:
    """A blob name for any key (an image id, a lease name): a hash of it, case-insensitive, of fixed
    length, whatever characters the key holds."""
    return hashlib.sha256(name.lower().encode()).hexdigest()[:32]


def _chunks(records: Sequence[dict[str, Any]]) -> Iterator[bytes]:
    buffer = b""
    for record in records:
        # No secret in the audit log: every URL in a record loses its query string and fragment (SAS).
        line = (json.dumps(scrub(record), sort_keys=True, default=str) + "\n").encode()
        if buffer and len(buffer) + len(line) > _MAX_APPEND:
            yield buffer
            buffer = b""
        buffer += line
    if buffer:
        yield buffer
