"""Personal data at rest (PIPL): authenticated encryption plus a keyed hash for lookups.

One master key comes from the SKILLSUB_PII_KEY setting (base64 of 32 bytes). Two sub-keys are
derived from it with HKDF so the cipher key and the lookup-hash key are never the same bytes:
a leak of lookup hashes must not help an attacker against the ciphertexts, and vice versa.

Blob layout: version byte (1) | 12-byte random nonce | AES-256-GCM ciphertext and 16-byte tag.
The version byte is also the associated data, so a blob cannot be relabelled to another scheme.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
VERSION = b"\x01"
_CIPHER_INFO = b"skillsub pii aes-256-gcm v1"
_LOOKUP_INFO = b"skillsub pii lookup hmac-sha256 v1"
_CONTACT_INFO = b"skillsub contact hmac-sha256 v1"


class PiiKeyError(ValueError):
    """The configured key is not base64 of exactly 32 bytes."""


class PiiDecryptError(ValueError):
    """The blob was not produced by this key, or it was altered."""


def load_pii_key(setting: str) -> bytes:
    """Decode the base64 setting into the 32-byte master key; refuse anything else."""
    try:
        key = base64.b64decode(setting.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PiiKeyError("PII key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise PiiKeyError(f"PII key must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


@lru_cache(maxsize=8)
def _subkey(key: bytes, info: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise PiiKeyError(f"PII key must be {KEY_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)


@lru_cache(maxsize=8)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(_subkey(key, _CIPHER_INFO))


def encrypt_pii(key: bytes, text: str) -> bytes:
    """Encrypt text with a fresh random nonce: equal inputs give different blobs."""
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + nonce + _cipher(key).encrypt(nonce, text.encode("utf-8"), VERSION)


def decrypt_pii(key: bytes, blob: bytes) -> str:
    """Decrypt a blob from `encrypt_pii`; raise PiiDecryptError if it was altered or foreign."""
    if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[:1] != VERSION:
        raise PiiDecryptError("not a PII blob of a known version")
    nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        plain = _cipher(key).decrypt(nonce, sealed, VERSION)
    except InvalidTag:
        raise PiiDecryptError("authentication failed") from None
    return plain.decode("utf-8")


def lookup_hash(key: bytes, text: str) -> str:
    """Keyed HMAC-SHA256 (hex) for equality lookups; normalise the text before calling."""
    return hmac.new(_subkey(key, _LOOKUP_INFO), text.encode("utf-8"), hashlib.sha256).hexdigest()


def contact_hash(key: bytes, kind: str, value: str) -> str:
    """Keyed HMAC-SHA256 (hex) of a normalised contact detail (a phone number, a bank account), under
    its own subkey and kind: equal details compare equal, and the digest never joins a person key."""
    message = f"{kind}:{value}".encode()
    return hmac.new(_subkey(key, _CONTACT_INFO), message, hashlib.sha256).hexdigest()
