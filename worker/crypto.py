"""Credential envelopes: v1 (legacy, what the front ends send today) and v2 (AEAD).

Each credential travels as a pair of fields: data (``api_key``) and key
(``key_api_key``). docs/crypto.md specifies both versions.

* v1 (legacy): key = base64(RSA-OAEP-SHA1(base64 text of an AES key)); data =
  base64(AES-ECB(PKCS#7(utf-8 secret))). ECB leaks patterns and nothing is authenticated;
  it stays readable only while the front ends produce it (``CRYPTO_ACCEPT_V1``).
* v2: both fields start with ``v2:``, a character standard base64 never contains, so the
  versions cannot be confused. key = ``v2:`` base64(RSA-OAEP-SHA256(raw 32-byte key),
  label ``study-savvy/v2``); data = ``v2:`` base64(nonce[12] || ciphertext || tag[16]) of
  AES-256-GCM with the field name bound as associated data, so a credential cannot be
  moved into another field.

Every failure raises the same :class:`CredentialError` and nothing here logs: the
caller cannot learn which step failed (no padding or MAC oracle) and no secret leaks.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.Hash import SHA1, SHA256
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import pad, unpad

from worker.errors import CredentialError

Field = Literal["api_key", "access_token"]
V2_PREFIX = "v2:"
V2_LABEL = b"study-savvy/v2"
_AES_KEY_SIZES = frozenset({16, 24, 32})
_NONCE = 12
_TAG = 16


@dataclass(frozen=True)
class Envelope:
    """One encrypted credential as the Go backend forwards it."""

    data: str
    key: str


def load_private_key(path: Path) -> RSA.RsaKey:
    """The worker's unencrypted PEM private key (read once per process)."""
    key = RSA.import_key(path.read_bytes())
    if not key.has_private():
        raise ValueError("the configured key file holds no private key")
    return key


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip(), validate=True)


def _decrypt_v1(envelope: Envelope, private_key: RSA.RsaKey) -> bytes:
    wrapped = PKCS1_OAEP.new(private_key, hashAlgo=SHA1).decrypt(_b64(envelope.key))
    aes_key = base64.b64decode(wrapped, validate=True)
    if len(aes_key) not in _AES_KEY_SIZES:
        raise ValueError("bad key size")
    cipher = AES.new(aes_key, AES.MODE_ECB)
    return unpad(cipher.decrypt(_b64(envelope.data)), AES.block_size)


def _decrypt_v2(envelope: Envelope, private_key: RSA.RsaKey, field: Field) -> bytes:
    oaep = PKCS1_OAEP.new(private_key, hashAlgo=SHA256, label=V2_LABEL)
    aes_key = oaep.decrypt(_b64(envelope.key[len(V2_PREFIX) :]))
    if len(aes_key) != 32:
        raise ValueError("bad key size")
    blob = _b64(envelope.data[len(V2_PREFIX) :])
    if len(blob) < _NONCE + _TAG:
        raise ValueError("short")
    nonce, body, tag = blob[:_NONCE], blob[_NONCE:-_TAG], blob[-_TAG:]
    cipher = AES.new(aes_key, AES.MODE_GCM, nonce=nonce)
    cipher.update(V2_LABEL + b"/" + field.encode())
    return cipher.decrypt_and_verify(body, tag)


def _version(envelope: Envelope) -> str:
    data_versioned = ":" in envelope.data
    key_versioned = ":" in envelope.key
    if not data_versioned and not key_versioned:
        return "v1"
    if envelope.data.startswith(V2_PREFIX) and envelope.key.startswith(V2_PREFIX):
        return "v2"
    raise ValueError("unknown or mixed version")


def decrypt_credential(
    envelope: Envelope, private_key: RSA.RsaKey, field: Field, *, accept_v1: bool = True
) -> str | None:
    """The plaintext credential, ``None`` when the user has none (empty data field).

    Raises :class:`CredentialError`, always with the same message, on any failure.
    """
    if not envelope.data.strip():
        return None
    try:
        version = _version(envelope)
        if version == "v1" and not accept_v1:
            raise ValueError("v1 disabled")
        raw = (
            _decrypt_v1(envelope, private_key)
            if version == "v1"
            else _decrypt_v2(envelope, private_key, field)
        )
        secret = raw.decode("utf-8")
    except (ValueError, TypeError, KeyError, IndexError, binascii.Error, UnicodeError):
        # `from None`: the chained cause would say which step failed.
        raise CredentialError() from None
    if not secret:
        return None
    return secret


def encrypt_v1(secret: str, public_key: RSA.RsaKey, key_size: int = 32) -> Envelope:
    """What a front end sends today (legacy; for tests, demos and migration)."""
    aes_key = secrets.token_bytes(key_size)
    wrapped = PKCS1_OAEP.new(public_key, hashAlgo=SHA1).encrypt(base64.b64encode(aes_key))
    data = AES.new(aes_key, AES.MODE_ECB).encrypt(pad(secret.encode(), AES.block_size))
    return Envelope(data=base64.b64encode(data).decode(), key=base64.b64encode(wrapped).decode())


def encrypt_v2(secret: str, public_key: RSA.RsaKey, field: Field) -> Envelope:
    """The authenticated envelope a front end should send from now on."""
    aes_key = secrets.token_bytes(32)
    nonce = secrets.token_bytes(_NONCE)
    cipher = AES.new(aes_key, AES.MODE_GCM, nonce=nonce)
    cipher.update(V2_LABEL + b"/" + field.encode())
    body, tag = cipher.encrypt_and_digest(secret.encode())
    oaep = PKCS1_OAEP.new(public_key, hashAlgo=SHA256, label=V2_LABEL)
    wrapped = oaep.encrypt(aes_key)
    return Envelope(
        data=V2_PREFIX + base64.b64encode(nonce + body + tag).decode(),
        key=V2_PREFIX + base64.b64encode(wrapped).decode(),
    )
