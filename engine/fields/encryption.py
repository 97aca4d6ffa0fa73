"""Field encryption: AES-GCM ciphertext in the column, a keyed hash beside it for exact search.

A field marked `encrypted: true` (string, text, email, phone) never reaches the database in
clear text: its column holds `enc1:<key id>:<base64 of nonce + ciphertext>`, sealed with
AES-256-GCM (the maintained `cryptography` package), and a companion column NAME_hash holds
HMAC-SHA256 of the normalised value (a phone's digits, an e-mail in lower case, other text
folded) so that a record is still found by an exact value. Neither key is the configured
secret itself: both are derived from it with HKDF under different labels, so the hash key
reveals nothing about the encryption key.

Keys come from the environment, never from the project's YAML:

* `TAILOR_ENCRYPTION_KEY`: the current key, base64 of 32 random bytes
  (`tailor keys generate` prints one), or
* `TAILOR_ENCRYPTION_KEY_FILE`: a file holding it (one key a line: the first is current);
* `TAILOR_ENCRYPTION_OLD_KEYS`: older keys, comma separated, still loaded to read values
  sealed under them while `tailor keys rotate` re-encrypts them under the current key.

Every ciphertext names the key that sealed it (its key id: the start of a hash of the key),
so old and new keys can be loaded together during a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "TAILOR_ENCRYPTION_KEY"
KEY_FILE_ENV = "TAILOR_ENCRYPTION_KEY_FILE"
OLD_KEYS_ENV = "TAILOR_ENCRYPTION_OLD_KEYS"
PREFIX = "enc1:"
KEY_ID_LENGTH = 8
HASH_SUFFIX = "_hash"
NONCE_BYTES = 12
ERROR_CODE = "E411"  # docs/error-codes.md
ENCRYPTABLE_TYPES = ("string", "text", "email", "phone")


class EncryptionKeyError(Exception):
    """No usable key, or a value sealed under a key that is not loaded: said plainly, with
    the error code documented in docs/error-codes.md, never a traceback."""

    code = ERROR_CODE

    def __str__(self) -> str:
        return f"{self.code} {super().__str__()}"


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)


@dataclass(frozen=True)
class Key:
    """One configured key: its id (stored with each ciphertext), and the two keys derived
    from it: one seals values, the other keys the search hashes."""

    id: str
    sealing: bytes
    hashing: bytes

    @classmethod
    def from_text(cls, text: str, where: str) -> Key:
        try:
            secret = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise EncryptionKeyError(f"{where} is not base64 (make a key with `tailor keys generate`)") from None
        if len(secret) != 32:
            raise EncryptionKeyError(f"{where} must be 32 bytes in base64 (it has {len(secret)}; "
                                     "make a key with `tailor keys generate`)")
        key_id = hashlib.sha256(b"tailor key id\x00" + secret).hexdigest()[:KEY_ID_LENGTH]
        return cls(key_id, _derive(secret, b"tailor field encryption"), _derive(secret, b"tailor search hash"))


def generate_key() -> str:
    """A new random key, as TAILOR_ENCRYPTION_KEY takes it."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(token: str) -> str | None:
    """The id of the key a stored value was sealed under; None for clear text."""
    if not is_sealed(token):
        return None
    return token[len(PREFIX):].split(":", 1)[0]


class Keyring:
    """The current key (new values are sealed under it) and every loaded older one."""

    def __init__(self, current: Key, older: list[Key] | None = None):
        self.current = current
        self.keys: dict[str, Key] = {current.id: current}
        for key in older or []:
            self.keys.setdefault(key.id, key)

    def seal(self, text: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.current.sealing).encrypt(nonce, text.encode("utf-8"), None)
        return f"{PREFIX}{self.current.id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, token: str) -> str:
        """The clear text of a stored value; a value stored before the field was encrypted
        (during the migration that encrypts it) is returned as it is."""
        if not is_sealed(token):
            return token
        key_id, _, body = token[len(PREFIX):].partition(":")
        key = self.keys.get(key_id)
        if key is None:
            raise EncryptionKeyError(
                f"a value is encrypted under key {key_id}, which is not loaded (loaded: "
                f"{', '.join(self.keys)}): set {KEY_ENV} (or {OLD_KEYS_ENV} during a rotation) to that key")
        try:
            raw = base64.b64decode(body, validate=True)
            return AESGCM(key.sealing).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise EncryptionKeyError(f"a value encrypted under key {key_id} cannot be decrypted: "
                                     "it was altered, or the key is not the one that sealed it") from None

    def digest(self, normalised: str, key: Key | None = None) -> str:
        return hmac.new((key or self.current).hashing, normalised.encode("utf-8"), hashlib.sha256).hexdigest()

    def digests(self, normalised: str) -> list[str]:
        """The hash of a value under every loaded key: a search finds rows not yet rotated."""
        return [self.digest(normalised, key) for key in self.keys.values()]


def normalised_text(value: str) -> str:
    """Text as exact searches compare it: compatibility forms unified, case folded, runs of
    spaces made one."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


_cache: dict[tuple[str | None, ...], Keyring] = {}


def keyring(environ: Mapping[str, str] | None = None) -> Keyring:
    """The keys configured in the environment; EncryptionKeyError when there are none or one
    is unusable. Read again when the settings change (tests set them per test)."""
    env = os.environ if environ is None else environ
    settings = (env.get(KEY_ENV), env.get(KEY_FILE_ENV), env.get(OLD_KEYS_ENV))
    found = _cache.get(settings)
    if found is None:
        found = _cache[settings] = _load(*settings)
    return found


def _load(text: str | None, file: str | None, old: str | None) -> Keyring:
    keys: list[Key] = []
    if text and text.strip():
        keys.append(Key.from_text(text, KEY_ENV))
    elif file:
        path = Path(file)
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise EncryptionKeyError(f"{KEY_FILE_ENV}: cannot read {path} ({exc.strerror})") from None
        lines = [line for line in lines if line and not line.startswith("#")]
        if not lines:
            raise EncryptionKeyError(f"{KEY_FILE_ENV}: {path} holds no key")
        keys += [Key.from_text(line, f"{KEY_FILE_ENV} ({path}, key {i + 1})") for i, line in enumerate(lines)]
    else:
        raise EncryptionKeyError(
            f"the project has encrypted fields but no encryption key is configured: set {KEY_ENV} "
            f"(base64 of 32 bytes; `tailor keys generate` makes one) or {KEY_FILE_ENV}")
    for i, item in enumerate(p for p in (old or "").split(",") if p.strip()):
        keys.append(Key.from_text(item, f"{OLD_KEYS_ENV} (key {i + 1})"))
    return Keyring(keys[0], keys[1:])
