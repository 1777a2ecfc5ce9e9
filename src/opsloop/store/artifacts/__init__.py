"""Content-addressed artifact store over fsspec.

Bytes are stored once under their sha256 (``objects/ab/cd/abcd...``). Writes go to a
temporary key first and are moved into place only when complete, so a reader never sees
a partial object; every read re-hashes the bytes and raises
:class:`~opsloop.errors.DigestMismatch` when they no longer match.

Roots: a local folder (default), or any fsspec URL; ``s3://bucket/prefix`` needs
``opsloop[s3]`` and honours ``OPSLOOP_S3_ENDPOINT_URL`` for S3-compatible services.

Example:
    >>> import tempfile
    >>> store = ArtifactStore(tempfile.mkdtemp())
    >>> blob = store.put_bytes(b"hello")
    >>> blob.digest[:12], blob.size
    ('2cf24dba5fb0', 5)
    >>> store.get_bytes(blob.digest)
    b'hello'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from opsloop.errors import DigestMismatch, InvalidInput, NotFound, import_extra

__all__ = ["ArtifactStore", "Blob", "open_artifact_store", "sha256_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Blob:
    """Stored bytes: their sha256 hex digest and size."""

    digest: str
    size: int


def sha256_file(path: str | os.PathLike[str]) -> Blob:
    """Digest and size of a local file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return Blob(h.hexdigest(), size)


class ArtifactStore:
    """Content-addressed storage under one root (a folder or an fsspec URL).

    Args:
        root: folder path or URL such as ``s3://bucket/prefix``.
        storage_options: passed to fsspec (for example ``endpoint_url`` for S3).
    """

    def __init__(self, root: str, **storage_options: Any) -> None:
        self.root = str(root).rstrip("/")
        self.is_local = "://" not in self.root or self.root.startswith("file://")
        if self.is_local:
            self.root = str(Path(self.root.removeprefix("file://")).expanduser().absolute())
            Path(self.root).mkdir(parents=True, exist_ok=True)
            self._fs: Any = None
        else:
            self._fs = _filesystem(self.root, storage_options)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    # -- keys -------------------------------------------------------------------------

    def _key(self, digest: str) -> str:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidInput("artifact digest", digest, "must be 64 lowercase hex characters")
        return f"{self.root}/objects/{digest[:2]}/{digest[2:4]}/{digest}"

    def _tmp_key(self) -> str:
        return f"{self.root}/tmp/{uuid.uuid4().hex}"

    # -- writes -----------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; returns its digest. Storing the same bytes twice is free."""
        blob = Blob(hashlib.sha256(data).hexdigest(), len(data))
        if not self.exists(blob.digest):
            self._commit(blob.digest, lambda fh: fh.write(data))
        return blob

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        """Store a local file (streamed, never fully in memory)."""
        blob = sha256_file(path)
        if not self.exists(blob.digest):
            def copy(out: IO[bytes]) -> None:
                with open(path, "rb") as src:
                    shutil.copyfileobj(src, out, _CHUNK)
            self._commit(blob.digest, copy)
        return blob

    def _commit(self, digest: str, write: Any) -> None:
        final, tmp = self._key(digest), self._tmp_key()
        if self.is_local:
            Path(tmp).parent.mkdir(parents=True, exist_ok=True)
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)  # atomic within one filesystem
        else:
            with self._fs.open(tmp, "wb") as fh:
                write(fh)
            try:
                self._fs.mv(tmp, final)
            finally:
                if self._fs.exists(tmp):
                    self._fs.rm(tmp)

    # -- reads ------------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        key = self._key(digest)
        return os.path.exists(key) if self.is_local else bool(self._fs.exists(key))

    def size(self, digest: str) -> int:
        """Stored size in bytes (``NotFound`` if absent)."""
        key = self._key(digest)
        try:
            return os.path.getsize(key) if self.is_local else int(self._fs.size(key))
        except FileNotFoundError:
            raise NotFound("artifact object", f"sha256:{digest}") from None

    def get_bytes(self, digest: str, *, name: str = "") -> bytes:
        """The bytes stored under ``digest``, verified.

        Raises:
            NotFound: nothing is stored under ``digest``.
            DigestMismatch: the stored bytes changed since they were written.
        """
        with self._open(digest) as fh:
            data: bytes = fh.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(name or digest, digest, actual)
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str], *, name: str = "") -> Path:
        """Copy the verified bytes to ``dest``; a mismatch leaves no file behind."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        h = hashlib.sha256()
        with self._open(digest) as src, open(part, "wb") as out:
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != digest:
            part.unlink()
            raise DigestMismatch(name or str(dest), digest, h.hexdigest())
        os.replace(part, dest)
        return dest

    def iter_chunks(self, digest: str, *, name: str = "") -> Iterator[bytes]:
        """Stream the bytes; the digest is checked when the stream ends."""
        h = hashlib.sha256()
        with self._open(digest) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                yield chunk
        if h.hexdigest() != digest:
            raise DigestMismatch(name or digest, digest, h.hexdigest())

    def _open(self, digest: str) -> Any:
        key = self._key(digest)
        try:
            return open(key, "rb") if self.is_local else self._fs.open(key, "rb")
        except FileNotFoundError:
            raise NotFound("artifact object", f"sha256:{digest}",
                           hint="it was deleted from the artifact store") from None


def _filesystem(root: str, options: dict[str, Any]) -> Any:
    protocol = root.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        import_extra("s3fs", extra="s3", feature="an s3:// artifact store")
        endpoint = options.pop("endpoint_url", None)
        if endpoint:
            options.setdefault("client_kwargs", {})["endpoint_url"] = endpoint
    import fsspec

    return fsspec.filesystem(protocol, **options)


def open_artifact_store(root: str, *, s3_endpoint_url: str = "") -> ArtifactStore:
    """An :class:`ArtifactStore` for a settings value."""
    options: dict[str, Any] = {}
    if s3_endpoint_url and root.startswith("s3"):
        options["endpoint_url"] = s3_endpoint_url
    return ArtifactStore(root, **options)
