"""The server's seal key: made once, 0600, its public half on GET /api/keys; an ended session's
export, checked with that key, is intact."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from diemcau.server.cli import main
from diemcau.server.config import Config
from diemcau.server.sealkey import KEY_NAME, PublicKey, SealKey, SealKeyError

from .conftest import World, admin_headers


def test_the_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = SealKey.load_or_create(tmp_path / "data")
    again = SealKey.load_or_create(tmp_path / "data")
    assert first.public.raw == again.public.raw
    assert stat.S_IMODE(os.stat(tmp_path / "data" / KEY_NAME).st_mode) == 0o600
    assert [p.name for p in (tmp_path / "data").iterdir()] == [KEY_NAME]  # no partial left


def test_a_bad_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_NAME).write_text("not a key")
    with pytest.raises(SealKeyError, match="not a PEM private key"):
        SealKey.load(tmp_path)
    with pytest.raises(SealKeyError, match="not an Ed25519 public key"):
        PublicKey.parse("bm90IGEga2V5")


def test_a_signature_checks_only_with_its_key() -> None:
    key, other = SealKey(Ed25519PrivateKey.generate()), SealKey(Ed25519PrivateKey.generate())
    signature = key.sign(b"head")
    assert key.public.check(b"head", signature)
    assert not key.public.check(b"head!", signature)
    assert not other.public.check(b"head", signature)
    assert (
        PublicKey.parse(key.public.pem).raw
        == PublicKey.parse(key.public.to_json()["public_key"]).raw
    )


async def test_keys_are_public_and_seal_the_export(
    client: httpx.AsyncClient,
    world: World,
    config: Config,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    response = await client.get("/api/keys")
    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key["type"] == "Ed25519"
    assert key["id"] == SealKey.load(config.data_dir).public.id  # type: ignore[union-attr]
    assert (await client.post(f"/api/sessions/{world.a}/start", headers=admin_headers())).is_success
    assert (await client.post(f"/api/sessions/{world.a}/end", headers=admin_headers())).is_success
    plain = await client.get(f"/api/sessions/{world.a}/events?chain=0", headers=admin_headers())
    assert '"chain"' not in plain.text  # the lines as they were before the chain, when asked
    exported = await client.get(f"/api/sessions/{world.a}/events?chain=1", headers=admin_headers())
    last = exported.text.splitlines()[-1]
    assert '"seal":{"head":' in last
    (tmp_path / "log.jsonl").write_text(exported.text, encoding="utf-8")
    (tmp_path / "pub").write_text(key["public_key"])
    with pytest.raises(SystemExit) as exit:
        main(["verify", "--events", str(tmp_path / "log.jsonl"), "--key", str(tmp_path / "pub")])
    assert exit.value.code == 0
    assert (
        capsys.readouterr().out
        == f"session {world.a}: intact: 2 events chained, sealed and signed\n"
    )
