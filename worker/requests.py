"""The kwargs of each task, as the Go backend sends them.

Missing required kwargs are a permanent failure whose message names the fields but
never echoes a value.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.crypto import Envelope
from worker.errors import PermanentError

M = TypeVar("M", bound=BaseModel)

# A topic or essay title, and about four hours of transcript: anything longer is an abuse
# of the user's LLM budget, refused before a token is spent.
PROMPT_MAX_CHARS = 2_000
CONTENT_MAX_CHARS = 400_000


class _Kwargs(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)


class CredentialKwargs(_Kwargs):
    api_key: str = ""
    key_api_key: str = ""
    access_token: str = ""
    key_access_token: str = ""

    def envelopes(self) -> dict[str, Envelope]:
        return {
            "api_key": Envelope(self.api_key, self.key_api_key),
            "access_token": Envelope(self.access_token, self.key_access_token),
        }


class MediaKwargs(CredentialKwargs):
    id: str = Field(min_length=1, max_length=36)
    file: str = Field(min_length=1, max_length=4096)
    prompt: str = Field("", max_length=PROMPT_MAX_CHARS)


class TextKwargs(CredentialKwargs):
    id: str = Field(min_length=1, max_length=36)
    content: str = Field(max_length=CONTENT_MAX_CHARS)
    prompt: str = Field("", max_length=PROMPT_MAX_CHARS)


class MailKwargs(_Kwargs):
    mail: str = Field(min_length=3, max_length=254)


def parse_kwargs(model: type[M], kwargs: dict[str, Any]) -> M:
    try:
        return model.model_validate(kwargs)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise PermanentError(f"task arguments are invalid: {', '.join(fields)}") from None


def file_id_of(kwargs: dict[str, Any]) -> str | None:
    """The row id, when one was sent, so even a bad message can mark its row FAILURE."""
    value = kwargs.get("id")
    return value if isinstance(value, str) and 0 < len(value) <= 36 else None
