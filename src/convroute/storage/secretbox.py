"""Encryption of secrets that must be recoverable (Vonage signature secrets: verifying an HMAC
needs the secret itself). Fernet (AES-128-CBC + HMAC-SHA256) with a key from settings."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from convroute.domain.errors import StorageError


class SecretBox:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise StorageError(
                "CONVROUTE_SECRET_KEY must be a Fernet key (32 url-safe base64 bytes); "
                "make one with: convroute secret-key"
            ) from exc

    def encrypt(self, secret: str) -> str:
        """The secret, encrypted and base64-encoded."""
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The secret in clear; StorageError when the key does not match."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise StorageError(
                "a stored secret does not decrypt: wrong CONVROUTE_SECRET_KEY?"
            ) from exc


def new_key() -> str:
    """A new random key."""
    return Fernet.generate_key().decode()


def key_file_for(database: Path) -> Path:
    """Where the embedded (SQLite) setup keeps its key: beside the database."""
    return database.with_name(database.name + ".key")


def load_or_create_key_file(path: Path) -> str:
    """Read the key at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
