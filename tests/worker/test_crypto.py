"""Credential envelopes: v1 vectors made independently with `cryptography`, v2 round trips,
and one generic error for every kind of tampering."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
from Crypto.PublicKey import RSA
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from worker import crypto_cli
from worker.crypto import (
    V2_PREFIX,
    Envelope,
    decrypt_credential,
    encrypt_v1,
    encrypt_v2,
    load_private_key,
)
from worker.errors import CredentialError

SECRET = "sk-test-0123456789abcdefSECRET"


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[rsa.RSAPrivateKey, Path]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("keys") / "private_key.pem"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return private, path


@pytest.fixture(scope="module")
def worker_key(keypair: tuple[rsa.RSAPrivateKey, Path]) -> RSA.RsaKey:
    return load_private_key(keypair[1])


def v1_vector(public: rsa.RSAPublicKey, secret: str, key_size: int) -> Envelope:
    """What the front ends do today, written with a different library than the worker's."""
    aes_key = os.urandom(key_size)
    sha1 = hashes.SHA1()  # noqa: S303  (the legacy envelope is SHA-1 by contract)
    oaep = asym.OAEP(mgf=asym.MGF1(sha1), algorithm=sha1, label=None)
    wrapped = public.encrypt(base64.b64encode(aes_key), oaep)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(secret.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()  # noqa: S305
    data = encryptor.update(padded) + encryptor.finalize()
    return Envelope(base64.b64encode(data).decode(), base64.b64encode(wrapped).decode())


@pytest.mark.parametrize("key_size", [16, 24, 32])
@pytest.mark.parametrize("secret", [SECRET, "中文權杖-✓", "x" * 200])
def test_v1_vectors_from_cryptography_decrypt(
    keypair: tuple[rsa.RSAPrivateKey, Path], worker_key: RSA.RsaKey, key_size: int, secret: str
) -> None:
    envelope = v1_vector(keypair[0].public_key(), secret, key_size)
    assert decrypt_credential(envelope, worker_key, "api_key") == secret


def test_v2_round_trips_for_both_fields(worker_key: RSA.RsaKey) -> None:
    for field in ("api_key", "access_token"):
        envelope = encrypt_v2(SECRET, worker_key.public_key(), field)  # type: ignore[arg-type]
        assert envelope.data.startswith(V2_PREFIX)
        assert envelope.key.startswith(V2_PREFIX)
        assert decrypt_credential(envelope, worker_key, field) == SECRET  # type: ignore[arg-type]


def test_empty_credential_is_absent(worker_key: RSA.RsaKey) -> None:
    assert decrypt_credential(Envelope("", ""), worker_key, "api_key") is None
    assert decrypt_credential(Envelope("  ", "whatever"), worker_key, "api_key") is None


def _flip(text: str, index: int, prefix: str = "") -> str:
    raw = bytearray(base64.b64decode(text[len(prefix) :]))
    raw[index % len(raw)] ^= 0x01
    return prefix + base64.b64encode(bytes(raw)).decode()


def _tampered(worker_key: RSA.RsaKey) -> list[tuple[str, Envelope, str]]:
    v1 = encrypt_v1(SECRET, worker_key.public_key())
    v2 = encrypt_v2(SECRET, worker_key.public_key(), "api_key")
    other = RSA.generate(2048)
    cases: list[tuple[str, Envelope, str]] = []
    for index in (0, 12, 20, -1):  # v2 data: nonce, body, body, tag
        cases.append(
            ("v2 data byte", Envelope(_flip(v2.data, index, V2_PREFIX), v2.key), "api_key")
        )
    for index in (0, 100, -1):
        cases.append(("v2 key byte", Envelope(v2.data, _flip(v2.key, index, V2_PREFIX)), "api_key"))
        cases.append(("v1 key byte", Envelope(v1.data, _flip(v1.key, index)), "api_key"))
    cases += [
        # v1 has no integrity: only a broken block structure is detectable.
        (
            "v1 data cut",
            Envelope(base64.b64encode(base64.b64decode(v1.data)[:-1]).decode(), v1.key),
            "api_key",
        ),
        ("v2 wrong field", v2, "access_token"),
        ("v2 wrong key", encrypt_v2(SECRET, other.public_key(), "api_key"), "api_key"),
        ("v1 wrong key", encrypt_v1(SECRET, other.public_key()), "api_key"),
        ("bad base64", Envelope("!!!not base64!!!", v1.key), "api_key"),
        ("bad base64 v2", Envelope(V2_PREFIX + "%%%", v2.key), "api_key"),
        ("unknown version", Envelope("v3:" + v2.data[3:], "v3:" + v2.key[3:]), "api_key"),
        ("mixed versions", Envelope(v2.data, v1.key), "api_key"),
        (
            "truncated v2",
            Envelope(V2_PREFIX + base64.b64encode(b"short").decode(), v2.key),
            "api_key",
        ),
    ]
    return cases


def test_every_failure_gives_the_same_generic_error(
    worker_key: RSA.RsaKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    messages = set()
    for name, envelope, field in _tampered(worker_key):
        with pytest.raises(CredentialError) as info:
            decrypt_credential(envelope, worker_key, field)  # type: ignore[arg-type]
        assert info.value.__cause__ is None, name
        assert info.value.__suppress_context__, name
        messages.add(str(info.value))
        assert SECRET not in str(info.value)
    assert messages == {CredentialError.GENERIC}
    assert SECRET not in caplog.text


def test_v1_can_be_turned_off(worker_key: RSA.RsaKey) -> None:
    v1 = encrypt_v1(SECRET, worker_key.public_key())
    with pytest.raises(CredentialError):
        decrypt_credential(v1, worker_key, "api_key", accept_v1=False)
    v2 = encrypt_v2(SECRET, worker_key.public_key(), "api_key")
    assert decrypt_credential(v2, worker_key, "api_key", accept_v1=False) == SECRET


def test_cli_encrypts_like_a_front_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json

    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    assert crypto_cli.main(["keygen", "--private", str(private), "--public", str(public)]) == 0
    key = load_private_key(private)
    for version in ("v1", "v2"):
        monkeypatch.setattr("sys.stdin", io.StringIO(SECRET + "\n"))
        args = [
            "encrypt",
            "--public-key",
            str(public),
            "--version",
            version,
            "--field",
            "access_token",
        ]
        assert crypto_cli.main(args) == 0
        fields = json.loads(capsys.readouterr().out)
        envelope = Envelope(fields["access_token"], fields["key_access_token"])
        assert decrypt_credential(envelope, key, "access_token") == SECRET
