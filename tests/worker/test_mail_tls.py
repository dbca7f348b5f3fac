"""Mail over TLS: STARTTLS and implicit SSL, with login, against a real aiosmtpd server
whose certificate is signed by a CA made here (SMTP_CA_FILE)."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.services import free_port
from tests.support.smtp_sink import Sink
from worker.errors import TransientError
from worker.mail import SmtpConfig, build_message, send

USER, PASSWORD = "mailer", "s3cret-smtp-pass"


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None = None, **kw: Any
) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1, signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = (
        _certificate("Test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    import ipaddress

    server = (
        _certificate("127.0.0.1", server_key, issuer=ca.subject)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any) -> Any:
    ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok)


def _tls_context(pki: dict[str, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["cert"], pki["key"])
    return context


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(
    request: pytest.FixtureRequest, pki: dict[str, Path]
) -> Iterator[tuple[str, Sink, int]]:
    sink, port, context = Sink(), free_port(), _tls_context(pki)
    common: dict[str, Any] = {
        "hostname": "127.0.0.1",
        "port": port,
        "authenticator": _authenticate,
        "auth_require_tls": True,
    }
    if request.param == "ssl":
        # aiosmtpd cannot tell that an implicit-TLS session is encrypted, so it would hide
        # AUTH behind auth_require_tls; the whole connection is TLS here anyway.
        controller = Controller(sink, ssl_context=context, **{**common, "auth_require_tls": False})
    else:
        controller = Controller(sink, tls_context=context, require_starttls=True, **common)
    controller.start()
    try:
        yield request.param, sink, port
    finally:
        controller.stop()


def _config(security: str, port: int, ca: Path | None, password: str = PASSWORD) -> SmtpConfig:
    return SmtpConfig(
        "127.0.0.1",
        port,
        security,
        USER,
        password,
        "no-reply@example.com",
        5,
        str(ca) if ca else None,
    )


def test_mail_is_delivered_over_tls_with_login(
    tls_server: tuple[str, Sink, int], pki: dict[str, Path]
) -> None:
    security, sink, port = tls_server
    send(
        _config(security, port, pki["ca"]),
        build_message("no-reply@example.com", "t@example.com", "Zz9Yy8", 10),
    )
    (mail,) = sink.to("t@example.com")
    assert "Zz9Yy8" in mail.get_body(("plain",)).get_content()


def test_untrusted_certificate_is_refused_and_not_sent(
    tls_server: tuple[str, Sink, int],
) -> None:
    security, sink, port = tls_server
    with pytest.raises(TransientError):
        send(
            _config(security, port, None),
            build_message("a@example.com", "u@example.com", "Ab3xY9", 10),
        )
    assert sink.to("u@example.com") == []


def test_wrong_password_is_refused_without_leaking_it(
    tls_server: tuple[str, Sink, int], pki: dict[str, Path]
) -> None:
    security, sink, port = tls_server
    with pytest.raises(TransientError) as refused:
        send(
            _config(security, port, pki["ca"], password="wrong-pass-XYZ"),
            build_message("a@example.com", "v@example.com", "Ab3xY9", 10),
        )
    assert "wrong-pass-XYZ" not in str(refused.value)
    assert sink.to("v@example.com") == []
