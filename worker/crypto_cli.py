"""Encrypt a credential the way a front end does, or make a key pair.

    python -m worker.crypto_cli keygen --private var/private_key.pem --public var/public_key.pem
    printf '%s' "$OPENAI_API_KEY" | python -m worker.crypto_cli encrypt \
        --public-key var/public_key.pem --version v2 --field api_key

The secret is read from standard input, never from the command line (shell history,
``ps``). The output is one JSON object with the two task kwargs, e.g.
``{"api_key": "v2:...", "key_api_key": "v2:..."}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from Crypto.PublicKey import RSA

from worker.crypto import encrypt_v1, encrypt_v2


def keygen(private: Path, public: Path, bits: int) -> None:
    key = RSA.generate(bits)
    private.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: no moment where another user could read it.
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.export_key("PEM"))
    private.chmod(0o600)  # an existing file keeps its old mode through O_CREAT
    public.write_bytes(key.public_key().export_key("PEM"))


def encrypt(public_key: Path, version: str, field: str, secret: str) -> dict[str, str]:
    key = RSA.import_key(public_key.read_bytes())
    if version == "v1":
        envelope = encrypt_v1(secret, key)
    else:
        envelope = encrypt_v2(secret, key, "api_key" if field == "api_key" else "access_token")
    return {field: envelope.data, f"key_{field}": envelope.key}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker.crypto_cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("keygen", help="write a new RSA key pair (PEM)")
    gen.add_argument("--private", type=Path, required=True)
    gen.add_argument("--public", type=Path, required=True)
    gen.add_argument("--bits", type=int, default=2048)
    enc = sub.add_parser("encrypt", help="encrypt the secret read from stdin")
    enc.add_argument("--public-key", type=Path, required=True)
    enc.add_argument("--version", choices=["v1", "v2"], default="v2")
    enc.add_argument("--field", choices=["api_key", "access_token"], default="api_key")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        keygen(args.private, args.public, args.bits)
        return 0
    secret = sys.stdin.read().strip()
    sys.stdout.write(json.dumps(encrypt(args.public_key, args.version, args.field, secret)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
