"""Authenticated encryption and keyed lookup hashes for personal data."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.pii import (
    PiiDecryptError,
    PiiKeyError,
    decrypt_pii,
    encrypt_pii,
    load_pii_key,
    lookup_hash,
)
from shared.settings import DEV_PII_KEY

KEY = load_pii_key(DEV_PII_KEY)
OTHER_KEY = bytes(range(32))
ID = "11010519491231002X"


@given(st.text(max_size=200))
def test_decrypting_what_was_encrypted_gives_the_text_back(text: str) -> None:
    assert decrypt_pii(KEY, encrypt_pii(KEY, text)) == text


def test_the_ciphertext_does_not_contain_the_id_and_differs_each_time() -> None:
    first, second = encrypt_pii(KEY, ID), encrypt_pii(KEY, ID)
    assert first != second
    assert ID.encode() not in first


@given(st.data())
def test_any_altered_byte_is_detected(data: st.DataObject) -> None:
    blob = bytearray(encrypt_pii(KEY, ID))
    pos = data.draw(st.integers(0, len(blob) - 1))
    blob[pos] ^= data.draw(st.integers(1, 255))
    with pytest.raises(PiiDecryptError):
        decrypt_pii(KEY, bytes(blob))


def test_another_key_cannot_decrypt() -> None:
    with pytest.raises(PiiDecryptError):
        decrypt_pii(OTHER_KEY, encrypt_pii(KEY, ID))


def test_truncated_blob_is_refused() -> None:
    with pytest.raises(PiiDecryptError):
        decrypt_pii(KEY, encrypt_pii(KEY, ID)[:20])


def test_lookup_hash_is_stable_for_a_key_and_differs_between_keys() -> None:
    assert lookup_hash(KEY, ID) == lookup_hash(KEY, ID)
    assert lookup_hash(KEY, ID) != lookup_hash(OTHER_KEY, ID)
    assert lookup_hash(KEY, ID) != lookup_hash(KEY, "11010519491231003X")
    assert len(lookup_hash(KEY, ID)) == 64


def test_lookup_hash_is_not_a_plain_sha256_of_the_id() -> None:
    import hashlib

    assert lookup_hash(KEY, ID) != hashlib.sha256(ID.encode()).hexdigest()


@pytest.mark.parametrize(
    "setting",
    ["not base64!", base64.b64encode(b"short").decode(), base64.b64encode(bytes(33)).decode()],
)
def test_a_key_setting_that_is_not_32_base64_bytes_is_refused(setting: str) -> None:
    with pytest.raises(PiiKeyError):
        load_pii_key(setting)


def test_raw_key_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(PiiKeyError):
        encrypt_pii(b"too short", ID)
