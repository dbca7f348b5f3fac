"""The verification mail: a CSPRNG code, a bilingual mail, then the Redis key.

The code is stored (``SET <mail> <code> EX 600``) only after the SMTP server accepted
the mail, so the backend never compares against a code the user cannot have. The code
appears in no log, exception or return value.
"""

from __future__ import annotations

import html
import logging
import secrets
import smtplib
import ssl
import string
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr

from worker.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

ALPHABET = string.ascii_letters + string.digits
SUBJECT = "Study-Savvy 驗證碼 / Verification code"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # "starttls", "ssl" or "none"
    user: str | None
    password: str | None = field(repr=False)
    sender: str
    timeout_s: float
    # A private relay's CA bundle; None trusts the system's CAs.
    ca_file: str | None = None


def new_code(length: int = 6) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def valid_address(mail: str) -> bool:
    """A bare ``local@domain.tld``: no display name, no surrounding whitespace (the
    address is also the backend's Redis key, and a newline would end the To header)."""
    _, address = parseaddr(mail)
    if address != mail or "@" in address.rsplit("@", 1)[0]:
        return False
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return "@" in address and "." in address.rsplit("@", 1)[1]


def build_message(sender: str, to: str, code: str, ttl_minutes: int) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = SUBJECT
    message["From"] = sender
    message["To"] = to
    message.set_content(
        f"您好，\n\n您的 Study-Savvy 驗證碼是：{code}\n此驗證碼將在 {ttl_minutes} 分鐘後失效。\n"
        "若您沒有申請，請忽略這封信。\n\n"
        f"Hello,\n\nYour Study-Savvy verification code is: {code}\n"
        f"It expires in {ttl_minutes} minutes. If you did not ask for it, ignore this mail.\n"
    )
    safe = html.escape(code)
    message.add_alternative(
        f"""<!doctype html>
<html lang="zh-Hant"><body style="font-family: sans-serif">
<p>您好，</p>
<p>您的 Study-Savvy 驗證碼是：</p>
<p style="font-size: 28px; letter-spacing: 6px"><strong>{safe}</strong></p>
<p>此驗證碼將在 {ttl_minutes} 分鐘後失效。若您沒有申請，請忽略這封信。</p>
<hr>
<p lang="en">Hello, your Study-Savvy verification code is <strong>{safe}</strong>.
It expires in {ttl_minutes} minutes. If you did not ask for it, ignore this mail.</p>
</body></html>
""",
        subtype="html",
    )
    return message


def send(config: SmtpConfig, message: EmailMessage) -> None:
    """Deliver over SMTP; refused recipients are permanent, everything else transient."""
    try:
        context = ssl.create_default_context(cafile=config.ca_file)
        if config.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout_s, context=context
            )
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
        with client:
            if config.security == "starttls":
                client.starttls(context=context)
            if config.user:
                client.login(config.user, config.password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused:
        raise PermanentError("mail address was refused by the mail server") from None
    except smtplib.SMTPAuthenticationError:
        raise TransientError("mail server refused the configured login") from None
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("mail delivery failed", extra={"error_type": type(exc).__name__})
        raise TransientError("mail server is unavailable") from None
