"""The SMTP sink keeps what it receives as files a reader can parse."""

from __future__ import annotations

import smtplib
import socket
import time
from email.message import EmailMessage
from pathlib import Path

from demo.smtp_sink import plain_text, read_mails
from demo.supervisor import Supervisor
from tests.support.services import free_port


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("the sink never listened")


def test_received_mail_is_stored_and_readable(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    port = free_port()
    message = EmailMessage()
    message["From"] = "demo@study-savvy.local"
    message["To"] = "student@example.com"
    message["Subject"] = "驗證碼 / code"
    message.set_content("Your code is: Ab3dE9\n")
    message.add_alternative("<p>Your code is <b>Ab3dE9</b></p>", subtype="html")
    args = ["python", "-m", "demo.smtp_sink", "--port", str(port), "--maildir", str(maildir)]
    with Supervisor(tmp_path / "logs") as supervisor:
        supervisor.start("smtp", args, {})
        _wait_port(port)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(message)
    mails = read_mails(maildir)
    assert len(mails) == 1
    assert mails[0]["Subject"] == "驗證碼 / code"
    assert "Ab3dE9" in plain_text(mails[0])
    assert not list(maildir.glob(".*.tmp"))
