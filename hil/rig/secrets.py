"""Where key material comes from. Keys are read at use time and never logged.

A key is given by reference: an environment variable, a file, or the name of a built-in
test key (``test_key: dkga04``, public test material from hil.sts.sample_keys). An inline
hex value is accepted only when the entry is marked ``test: true``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from hil.sts.errors import FieldError
from hil.sts.keys import parse_hex_key
from hil.sts.sample_keys import TEST_VENDING_KEYS


class KeySource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None
    hex: str | None = None
    test: bool = False
    test_key: Literal["dkga02", "dkga04"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeySource:
        given = [n for n in ("env", "file", "hex", "test_key") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of env (variable name), file (path), test_key or hex"
            )
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
        if self.test_key:
            return f"built-in test key {self.test_key} (test material)"
        return "inline test key (test material)"

    @property
    def is_test_material(self) -> bool:
        return self.test_key is not None or (self.hex is not None and self.test)

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
            text = self.hex or TEST_VENDING_KEYS.get(self.test_key or "", "")
        return parse_hex_key(text, what, bits)
