"""The verification mail over a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re

import pytest

from tests.support.services import free_port
from tests.support.smtp_sink import smtp_sink
from worker.errors import TransientError
from worker.mail import ALPHABET, SmtpConfig, build_message, new_code, send, valid_address


def config(port: int) -> SmtpConfig:
    return SmtpConfig(
        "127.0.0.1", port, "none", None, None, "Study-Savvy <no-reply@example.com>", 5
    )


def test_codes_are_six_alphanumerics_and_vary() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 6 and set(c) <= set(ALPHABET) for c in codes)


def test_mail_is_bilingual_html_and_text() -> None:
    with smtp_sink() as (sink, port):
        send(
            config(port),
            build_message("Study-Savvy <no-reply@example.com>", "u@example.com", "Ab3xY9", 10),
        )
        (mail,) = sink.to("u@example.com")
    assert "驗證碼" in mail["Subject"]
    assert "Verification code" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Ab3xY9" in body
        assert "驗證碼" in body
        assert re.search(r"verification code", body, re.IGNORECASE)


def test_smtp_down_is_transient() -> None:
    with pytest.raises(TransientError, match="mail server"):
        send(config(free_port()), build_message("a@example.com", "u@example.com", "Ab3xY9", 10))


@pytest.mark.parametrize(
    ("address", "ok"),
    [("u@example.com", True), ("bad", False), ("a@b@c.com", False), ("x <u@example.com>", False)],
)
def test_address_validation(address: str, ok: bool) -> None:
    assert valid_address(address) is ok
