"""AES-GCM encryption of secrets at rest, with key rotation by key id."""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


def decode_key(text: str) -> bytes:
    """Decode a base64 32-byte key as found in configuration."""
    key = base64.b64decode(text.strip(), validate=True)
    if len(key) != 32:
        raise ValueError("secrets key must be 32 bytes, base64-encoded")
    return key


class SecretBox:
    """Encrypts with the current key; decrypts with the current or any previous key."""

    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._current = current
        self._keys = {_key_id(k): AESGCM(k) for k in (current, *previous)}
        self._current_id = _key_id(current)

    @classmethod
    def from_config(cls, current: str, previous: list[str] | None = None) -> SecretBox:
        """Build from base64 keys as they appear in settings."""
        return cls(decode_key(current), tuple(decode_key(p) for p in previous or []))

    def encrypt(self, plaintext: bytes, *, associated_data: bytes = b"") -> bytes:
        """Encrypt: version byte, key id, 12-byte nonce, ciphertext and tag."""
        nonce = os.urandom(12)
        sealed = self._keys[self._current_id].encrypt(nonce, plaintext, associated_data)
        return _VERSION + self._current_id + nonce + sealed

    def decrypt(self, blob: bytes, *, associated_data: bytes = b"") -> bytes:
        """Decrypt a blob made by :meth:`encrypt` with any known key."""
        if len(blob) < 1 + 4 + 12 + 16 or blob[:1] != _VERSION:
            raise ValueError("not an encrypted secret")
        aead = self._keys.get(blob[1:5])
        if aead is None:
            raise ValueError("secret was encrypted with an unknown key")
        return aead.decrypt(blob[5:17], blob[17:], associated_data)

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether the blob was sealed with a key other than the current one."""
        return blob[1:5] != self._current_id
