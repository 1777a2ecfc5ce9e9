"""The artifact store on a local folder and on S3 (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import free_port, unavailable

from opsloop.errors import DigestMismatch, InvalidInput, NotFound
from opsloop.store import ArtifactStore, open_artifact_store


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        unavailable(f"moto[server] is not installed: {exc}")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="opsloop-test")
    yield endpoint
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    endpoint = request.getfixturevalue("s3_endpoint")
    prefix = hashlib.sha1(str(tmp_path).encode()).hexdigest()[:10]
    return open_artifact_store(f"s3://opsloop-test/{prefix}", s3_endpoint_url=endpoint)


def test_bytes_round_trip_and_identical_content_is_stored_once(store: ArtifactStore) -> None:
    a = store.put_bytes(b"model weights")
    b = store.put_bytes(b"model weights")
    assert a == b and a.digest == hashlib.sha256(b"model weights").hexdigest()
    assert store.exists(a.digest) and store.size(a.digest) == 13
    assert store.get_bytes(a.digest) == b"model weights"


def test_files_stream_in_and_out_verified(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    payload = os.urandom(3 * (1 << 20) + 17)  # several chunks
    src.write_bytes(payload)
    blob = store.put_file(src)
    assert blob.size == len(payload)
    out = store.get_file(blob.digest, tmp_path / "out" / "copy.bin")
    assert out.read_bytes() == payload
    assert b"".join(store.iter_chunks(blob.digest)) == payload


def test_no_temporary_objects_are_left_behind(store: ArtifactStore) -> None:
    store.put_bytes(b"a")
    store.put_bytes(b"b")
    if store.is_local:
        tmp = Path(store.root) / "tmp"
        assert not tmp.exists() or list(tmp.iterdir()) == []
    else:
        assert store._fs.find(f"{store.root}/tmp") == []


def test_missing_object_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFound, match="sha256:" + "a" * 12):
        store.get_bytes("a" * 64)


def test_malformed_digest_is_refused(store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="64 lowercase hex"):
        store.get_bytes("../../etc/passwd")


def test_tampering_is_detected_on_every_read(store: ArtifactStore, tmp_path: Path) -> None:
    blob = store.put_bytes(b"approved model")
    key = store._key(blob.digest)
    if store.is_local:
        Path(key).write_bytes(b"poisoned model")
    else:
        store._fs.pipe(key, b"poisoned model")
    with pytest.raises(DigestMismatch, match="does not match"):
        store.get_bytes(blob.digest, name="model.skops")
    with pytest.raises(DigestMismatch):
        store.get_file(blob.digest, tmp_path / "dl.bin")
    assert not (tmp_path / "dl.bin").exists() and not (tmp_path / "dl.bin.part").exists()
    with pytest.raises(DigestMismatch):
        b"".join(store.iter_chunks(blob.digest))


def test_s3_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from opsloop.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes `import s3fs` fail
    with pytest.raises(MissingExtra, match=r"pip install 'opsloop\[s3\]'"):
        ArtifactStore("s3://bucket/prefix")


def test_client_logs_artifacts_to_s3(s3_endpoint: str, tmp_path: Path) -> None:
    from opsloop.client import Client
    from opsloop.config import Settings

    settings = Settings(home=tmp_path, artifacts="s3://opsloop-test/client",
                        s3_endpoint_url=s3_endpoint, capture_source=False)
    with Client(settings) as client:
        run = client.create_run("s3")
        art = client.log_text(run.id, "hello s3", "notes/readme.txt")
        assert client.read_artifact(run.id, "notes/readme.txt") == b"hello s3"
    assert not (tmp_path / "artifacts").exists()  # nothing went to the local folder
    assert art.size == 8
