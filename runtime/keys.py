"""CURVE key files: writing a key pair (``tradepit keys``) and reading one back.

The gateway encrypts and authenticates with ZeroMQ CURVE. Keys live in the
ZeroMQ certificate files that :func:`zmq.auth.create_certificates` writes:
``NAME.key`` holds the public key only and may be copied anywhere;
``NAME.key_secret`` holds the public and the secret key and must stay with
its owner (it is written readable by its owner only). The runtime needs its
own ``.key_secret`` (``[gateway.curve] server_secret_key``) and the ``.key``
files of the clients it lets in (``control_keys`` / ``readonly_keys``
directories); a client needs the server's ``.key`` and its own
``.key_secret``.

Every problem is a :class:`KeyFileError` naming the file and what is wrong.
An existing key file is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import zmq.auth
from zmq.utils import z85

from runtime.errors import TradepitError

__all__ = [
    "PUBLIC_SUFFIX",
    "SECRET_SUFFIX",
    "KeyFileError",
    "KeyFiles",
    "create_keys",
    "load_key_pair",
    "load_public_key",
]

PUBLIC_SUFFIX: Final = ".key"
"""Suffix of a public-key file (what ``zmq.auth`` writes and the gateway reads)."""
SECRET_SUFFIX: Final = ".key_secret"
"""Suffix of a file holding a public and a secret key."""

_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_Z85_KEY_LENGTH: Final = 40


class KeyFileError(TradepitError):
    """A key file cannot be written or read; the message names the file."""


@dataclass(frozen=True, slots=True)
class KeyFiles:
    """The two files of a key pair written by :func:`create_keys`."""

    public: Path
    """``NAME.key``: the public key; give it to the other side."""
    secret: Path
    """``NAME.key_secret``: public and secret key; keep it private."""


def create_keys(directory: Path, name: str = "client") -> KeyFiles:
    """Write a new key pair as ``directory/NAME.key`` and ``directory/NAME.key_secret``.

    The directory is created if needed. Raises :class:`KeyFileError` if
    ``name`` is not a plain file name, or if either file already exists (no
    file is written or changed then): keys are never overwritten.
    """
    if not _NAME.match(name):
        raise KeyFileError(
            f"key name {name!r}: expected letters, digits, _ . - (max 64, not starting with . or -)"
        )
    files = KeyFiles(directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}")
    for path in (files.public, files.secret):
        if path.exists() or path.is_symlink():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key file")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create directory {directory}: {exc}") from None
    # Written in a private temporary directory first, then hard-linked into
    # place: a link never replaces an existing file, so a file that appeared
    # meanwhile is not overwritten either.
    try:
        staging = Path(tempfile.mkdtemp(prefix=".tradepit-keys-", dir=directory))
    except OSError as exc:
        raise KeyFileError(f"cannot write in {directory}: {exc}") from None
    linked: list[Path] = []
    try:
        public, secret = zmq.auth.create_certificates(staging, name)
        os.chmod(secret, 0o600)
        os.chmod(public, 0o644)
        for source, target in ((Path(public), files.public), (Path(secret), files.secret)):
            try:
                os.link(source, target)
            except FileExistsError:
                raise KeyFileError(
                    f"{target} already exists; refusing to overwrite a key file"
                ) from None
            linked.append(target)
    except OSError as exc:
        for path in linked:
            with contextlib.suppress(OSError):
                path.unlink()
        raise KeyFileError(f"cannot write key files in {directory}: {exc}") from None
    except KeyFileError:
        for path in linked:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def _load(path: Path, what: str) -> tuple[bytes, bytes | None]:
    if not path.is_file():
        raise KeyFileError(f"{what} {path}: no such file")
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{what} {path}: not a ZeroMQ key file ({exc})") from None
    _check_key(path, what, "public", public)
    if secret is not None:
        _check_key(path, what, "secret", secret)
    return public, secret


def _check_key(path: Path, what: str, kind: str, key: bytes) -> None:
    valid = len(key) == _Z85_KEY_LENGTH
    if valid:
        try:
            z85.decode(key)
        except (ValueError, KeyError, IndexError, struct.error):
            valid = False
    if not valid:
        raise KeyFileError(
            f"{what} {path}: the {kind} key is not a {_Z85_KEY_LENGTH}-character Z85 CURVE key"
        )


def load_public_key(path: Path, what: str = "public key file") -> bytes:
    """The Z85 public key in ``path`` (a ``.key`` or ``.key_secret`` file)."""
    public, _ = _load(path, what)
    return public


def load_key_pair(path: Path, what: str = "secret key file") -> tuple[bytes, bytes]:
    """(public, secret) Z85 keys from ``path``, which must hold the secret key."""
    public, secret = _load(path, what)
    if secret is None:
        raise KeyFileError(
            f"{what} {path}: holds no secret key; pass the {SECRET_SUFFIX} file "
            f"written with it, not the {PUBLIC_SUFFIX} file"
        )
    return public, secret
