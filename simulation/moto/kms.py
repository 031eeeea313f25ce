"""KMS: keys made as fast as moto can make them, with no change of behaviour."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.kms import models as kms_models
from moto.kms.utils import generate_private_key as generate_private_key_in_moto


class _KeyOnFirstUse:
    """An asymmetric private key generated when first used (Sign, Verify, GetPublicKey)."""

    def __init__(self, key_spec: str, generate: Callable[[str], Any]) -> None:
        self._key_spec = key_spec
        self._generate = generate
        self._key: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            if self._key is None:
                self._key = self._generate(self._key_spec)
        return getattr(self._key, name)


def _private_key_on_first_use() -> Callable[[str], Any]:
    # Speed only, no change of behaviour: moto makes every key an RSA private key at
    # CreateKey, symmetric ones too (where it is never used), a fifth of a second each: a
    # tenth of the unit tests' time. The key is made when first used instead.
    original = generate_private_key_in_moto

    def generate_private_key(key_spec: str) -> Any:
        return _KeyOnFirstUse(key_spec, original)

    return generate_private_key


def patches() -> list[Any]:
    return [mock.patch.object(kms_models, "generate_private_key", _private_key_on_first_use())]


__all__ = ["patches"]
