"""An SMTP server that keeps every message it receives as a file (``<maildir>/*.eml``).

Run on its own: ``python -m demo.smtp_sink --port 2525 --maildir var/demo/mail``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import signal
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from inference.logs import configure_logging

log = logging.getLogger(__name__)


class MaildirHandler:
    """aiosmtpd handler: one ``.eml`` file per accepted message, written atomically."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        maildir.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
        partial = self.maildir / f".{name}.tmp"
        partial.write_bytes(content)
        # A reader never sees a half-written message: rename is atomic.
        partial.rename(self.maildir / f"{name}.eml")
        log.info("mail stored", extra={"file": f"{name}.eml", "recipients": len(envelope.rcpt_tos)})
        return "250 Message accepted for delivery"


def read_mails(maildir: Path) -> list[EmailMessage]:
    """Every stored message, oldest first."""
    mails: list[EmailMessage] = []
    for path in sorted(maildir.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if isinstance(parsed, EmailMessage):
            mails.append(parsed)
    return mails


def plain_text(message: EmailMessage) -> str:
    """The text/plain body (or the HTML one when there is no plain part)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None or not isinstance(part, EmailMessage):
        return ""
    return str(part.get_content())


def serve(host: str, port: int, maildir: Path) -> None:
    controller = Controller(MaildirHandler(maildir), hostname=host, port=port)
    controller.start()
    log.info("smtp sink listening", extra={"host": host, "port": port, "maildir": str(maildir)})
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    configure_logging("INFO")
    serve(args.host, args.port, args.maildir)


if __name__ == "__main__":
    main()
