"""Where key material comes from. Keys are read at use time and never logged.

A key is given by reference (an environment variable or a file); an inline hex value
is accepted only when the entry is marked ``test: true`` (built-in test material).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from hil.sts.errors import FieldError
from hil.sts.keys import parse_hex_key


class KeySource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None
    hex: str | None = None
    test: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> KeySource:
        given = [n for n in ("env", "file", "hex") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of env (variable name), file (path) or hex")
        if self.hex is not None and not self.test:
            raise ValueError(
                "an inline hex key is allowed only for test material: add 'test: true', or"
                " give the key by env or file"
            )
        return self

    def describe(self) -> str:
        """Where the key comes from, for logs and reports (never the value)."""
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"file {self.file}"
        return "inline test key (test material)"

    def load(self, what: str, bits: tuple[int, ...], base: Path | None = None) -> bytes:
        if self.env is not None:
            text = os.environ.get(self.env)
            if text is None:
                raise FieldError(f"{what}: environment variable {self.env} is not set")
        elif self.file is not None:
            path = self.file if self.file.is_absolute() or base is None else base / self.file
            try:
                text = path.read_text()
            except OSError as exc:
                raise FieldError(f"{what}: cannot read key file {path} ({exc.strerror})") from None
        else:
            text = self.hex or ""
        return parse_hex_key(text, what, bits)
