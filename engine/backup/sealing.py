"""Encrypting a whole archive with a passphrase (`TAILOR_BACKUP_PASSPHRASE`).

Why this shape: an archive may be gigabytes, so it is sealed in chunks of 1 MiB, each an
AES-256-GCM message (the `cryptography` package) under a key derived from the passphrase
with scrypt and a random salt. Each chunk's nonce is a random prefix of the file, the
chunk's number and a "last chunk" mark, and the header is authenticated with every chunk:
chunks cannot be reordered, dropped, repeated or cut off at the end without opening
failing. A wrong passphrase and a damaged file give the same answer — it does not open —
and nothing half-decrypted is ever used.

Layout: MAGIC, scrypt's log2(n), r, p (one byte each), salt (16 bytes), nonce prefix
(7 bytes); then per chunk its sealed length (4 bytes, big-endian) and the sealed bytes.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import BackupError

MAGIC = b"TAILOR-SEALED-1\n"
CHUNK = 1 << 20
LOG2_N, R, P = 15, 8, 1
_HEADER = struct.Struct(f"{len(MAGIC)}sBBB16s7s")
_LENGTH = struct.Struct(">I")
PASSPHRASE_SETTING = "TAILOR_BACKUP_PASSPHRASE"


def is_sealed(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise BackupError(f"this archive is encrypted: set {PASSPHRASE_SETTING} to its passphrase")
    if not 10 <= log2_n <= 22 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise BackupError("the encrypted archive's header is damaged")
    return Scrypt(salt=salt, length=32, n=2 ** log2_n, r=r, p=p).derive(passphrase.encode())


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def seal(source: Path, target: Path, passphrase: str) -> None:
    """Write `source` to `target`, encrypted."""
    if not passphrase:
        raise BackupError(f"an encrypted backup needs a passphrase: set {PASSPHRASE_SETTING}")
    salt, prefix = os.urandom(16), os.urandom(7)
    header = _HEADER.pack(MAGIC, LOG2_N, R, P, salt, prefix)
    aead = AESGCM(_key(passphrase, salt, LOG2_N, R, P))
    with open(source, "rb") as plain, open(target, "wb") as out:
        out.write(header)
        number, chunk = 0, plain.read(CHUNK)
        while True:
            following = plain.read(CHUNK)
            last = not following
            sealed = aead.encrypt(_nonce(prefix, number, last), chunk, header)
            out.write(_LENGTH.pack(len(sealed)) + sealed)
            if last:
                break
            if number == 0xFFFFFFFF:
                raise BackupError("the archive is too large to encrypt in one file")
            number, chunk = number + 1, following


def unseal(source: Path, target: Path, passphrase: str) -> None:
    """Write the decrypted `source` to `target`; a BackupError (and no target) when the
    passphrase is wrong or any byte of the file was changed, dropped or added."""
    try:
        with open(source, "rb") as sealed_file, open(target, "wb") as out:
            header = sealed_file.read(_HEADER.size)
            if len(header) != _HEADER.size:
                raise BackupError("the encrypted archive is cut short")
            magic, log2_n, r, p, salt, prefix = _HEADER.unpack(header)
            if magic != MAGIC:
                raise BackupError("not an encrypted Tailor archive")
            aead = AESGCM(_key(passphrase, salt, log2_n, r, p))
            number = 0
            while True:
                length = sealed_file.read(_LENGTH.size)
                if len(length) != _LENGTH.size:
                    raise BackupError("the encrypted archive is cut short (its last part is missing)")
                (size,) = _LENGTH.unpack(length)
                if size > CHUNK + 16:
                    raise BackupError("the encrypted archive is damaged")
                sealed = sealed_file.read(size)
                plain = _open_chunk(aead, prefix, number, sealed, header)
                out.write(plain[0])
                if plain[1]:
                    break
                number += 1
            if sealed_file.read(1):
                raise BackupError("the encrypted archive has bytes after its end")
    except BaseException:
        Path(target).unlink(missing_ok=True)
        raise


def _open_chunk(aead: AESGCM, prefix: bytes, number: int, sealed: bytes, header: bytes) -> tuple[bytes, bool]:
    """The chunk's clear text and whether it is the last one."""
    for last in (False, True):
        try:
            return aead.decrypt(_nonce(prefix, number, last), sealed, header), last
        except InvalidTag:
            continue
    raise BackupError("the encrypted archive does not open: wrong passphrase, or the file is damaged")
