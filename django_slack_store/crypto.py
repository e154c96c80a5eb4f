"""The token codec: how tokens, refresh tokens and webhook URLs are encrypted at rest (docs/security.md).

A stored value is `aesgcm2:` followed by url-safe base64 of a random 96-bit nonce and the AES-256-GCM
ciphertext with its tag (the `cryptography` package), sealed with associated data that names where the value
lives: table, column, client id, enterprise id, team id and user id (`binding()`). Authenticated, so a wrong
key, a damaged value, or a value copied into another row or column is detected, never decrypted into garbage
or served for the wrong workspace. Keys come from `DJANGO_SLACK_STORE["ENCRYPTION_KEYS"]` (Fernet keys: each
one's AES key is derived from it with HKDF): the first encrypts, every key decrypts. Without that setting the
key is derived from `SECRET_KEY`. Keys derived from `SECRET_KEY` and `SECRET_KEY_FALLBACKS` always decrypt
too, so moving from the default to explicit keys, or rotating `SECRET_KEY`, never leaves a row unreadable
before `manage.py slack_store_rotate_keys` has re-encrypted it.

AES-GCM is one call into OpenSSL: about 1.5 µs per token, where Fernet (AES-CBC plus HMAC, built from
several objects per call) took 11, and a find decrypts up to four tokens on every Slack request.

Unbound values are what earlier releases wrote: `aesgcm:` (the same scheme without associated data),
`fernet:` + a Fernet token, and plaintext (no tag). Anyone who can write to the table can plant or move them,
so they are refused on read (`TokenDecryptionError`) unless `DJANGO_SLACK_STORE["ACCEPT_UNBOUND_TOKENS"]` is
True; migration 0005 and `slack_store_rotate_keys` rewrite them bound. Encryption is not deterministic (each
encryption of one value differs), so a token can never be looked up by value; `TokenField` refuses such
lookups.
"""

import base64
import binascii
import os
import threading
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.encoding import force_bytes
from django.views.decorators.debug import sensitive_variables

from .conf import store_settings
from .exceptions import TokenDecryptionError

__all__ = ["TokenDecryptionError"]

# The scheme's tag: a value starting with it is encrypted with AES-GCM, bound to its row. The unbound
# schemes before it: UNBOUND_PREFIX (AES-GCM without associated data), FERNET_PREFIX; anything else is
# legacy plaintext.
PREFIX = "aesgcm2:"
UNBOUND_PREFIX = "aesgcm:"
FERNET_PREFIX = "fernet:"
_BINDING_TAG = "django_slack_store v2"
NONCE_SIZE = 12

# HKDF's salt and info: keys derived from SECRET_KEY here are of no use anywhere else, and vice versa.
_KDF_SALT = b"django_slack_store"
_KDF_INFO = b"django_slack_store token encryption key v1"
_AES_KEY_INFO = b"django_slack_store aes-256-gcm key v1"


def binding(table: str, column: str, ids: Sequence[str | None]) -> bytes:
    """The associated data of a value stored in `column` of `table` for the row of `ids`: client id,
    enterprise id, team id, user id (None and "" alike for an absent id). Ids are Slack ids (no NUL), so
    NUL-separated fields cannot be confused."""
    return "\0".join((_BINDING_TAG, table, column, *(value or "" for value in ids))).encode()


def derive_key(secret: str | bytes) -> bytes:
    """The Fernet key this app derives from a Django secret key (HKDF-SHA256)."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_KDF_INFO)
    return base64.urlsafe_b64encode(kdf.derive(force_bytes(secret)))


@sensitive_variables()
def aes_key(fernet_key: str | bytes) -> bytes:
    """The AES-256-GCM key of a configured (Fernet) key: derived with HKDF, so that the same secret is never
    used by two algorithms."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_AES_KEY_INFO)
    return kdf.derive(base64.urlsafe_b64decode(force_bytes(fernet_key)))


def generate_key() -> str:
    """A new random key for ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")


def configured_keys() -> Sequence[str | bytes]:
    """ENCRYPTION_KEYS as set (an empty list when unset); `checks.py` reports what is wrong with it."""
    keys = store_settings.ENCRYPTION_KEYS
    return [] if keys is None else keys


@sensitive_variables()
def is_valid_key(key: str | bytes) -> bool:
    """Whether `key` is a Fernet key: 32 url-safe base64-encoded bytes, as str or bytes."""
    try:
        Fernet(key)
    except (TypeError, ValueError):
        return False
    return True


def check_keys() -> None:
    """Raise ImproperlyConfigured if the keys are unusable (the first encryption or decryption would)."""
    _get_codec()


class _Codec:
    """The keys in use, in order: the first encrypts, all decrypt."""

    @sensitive_variables()
    def __init__(self) -> None:
        keys = configured_keys()
        if not isinstance(keys, (list, tuple)):
            raise ImproperlyConfigured("DJANGO_SLACK_STORE['ENCRYPTION_KEYS'] must be a list of Fernet keys.")
        for index, key in enumerate(keys):
            if not is_valid_key(key):
                # The message names the position only: a key must not end up in a log.
                raise ImproperlyConfigured(
                    f"DJANGO_SLACK_STORE['ENCRYPTION_KEYS'][{index}] is not a Fernet key "
                    "(32 url-safe base64-encoded bytes)."
                )
        derived = [derive_key(secret) for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]
        keys = list(dict.fromkeys([*(force_bytes(key) for key in keys), *derived]))
        self.ciphers = [AESGCM(aes_key(key)) for key in keys]  # the first encrypts
        self.fernet = MultiFernet([Fernet(key) for key in keys])  # reads values of the earlier scheme

    @sensitive_variables()
    def encrypt(self, data: bytes, associated: bytes | None) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self.ciphers[0].encrypt(nonce, data, associated)

    @sensitive_variables()
    def decrypt(
        self, sealed: bytes, associated: bytes | None, ciphers: Sequence[AESGCM] | None = None
    ) -> bytes:
        """`sealed` decrypted with the first of `ciphers` (default: all) that opens it; InvalidTag if none."""
        nonce, ciphertext = sealed[:NONCE_SIZE], sealed[NONCE_SIZE:]
        for cipher in ciphers or self.ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, associated)
            except InvalidTag:
                continue
        raise InvalidTag


_codec: _Codec | None = None
_codec_lock = threading.Lock()


def _get_codec() -> _Codec:
    global _codec
    codec = _codec
    if codec is None:
        with _codec_lock:
            if _codec is None:
                _codec = _Codec()
            codec = _codec
    return codec


@receiver(setting_changed)
def _forget_keys(setting: str, **kwargs: Any) -> None:
    global _codec
    if setting in ("DJANGO_SLACK_STORE", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _codec = None


@sensitive_variables()
def encrypt(token: str, associated: bytes | None) -> str:
    """The stored form of `token` for the place `associated` (`binding()`), encrypted with the first key.
    None writes the unbound `aesgcm:` form of earlier releases: only migration 0005's reverse does."""
    prefix = UNBOUND_PREFIX if associated is None else PREFIX
    return prefix + base64.urlsafe_b64encode(_get_codec().encrypt(token.encode("utf-8"), associated)).decode()


@sensitive_variables()
def decrypt(stored: str, associated: bytes, *, accept_unbound: bool | None = None) -> str:
    """The value in a stored value of the place `associated`, or `TokenDecryptionError` (whose row the caller
    names: `fields.TokenField.open()`).

    Unbound values (see the module's docstring) are read when `accept_unbound` is True, refused when False,
    and by default as `ACCEPT_UNBOUND_TOKENS` says.
    """
    try:
        if stored.startswith(PREFIX):
            return _open(stored[len(PREFIX) :], associated).decode("utf-8")
        if not (store_settings.ACCEPT_UNBOUND_TOKENS if accept_unbound is None else accept_unbound):
            raise TokenDecryptionError(unbound=True)
        if stored.startswith(UNBOUND_PREFIX):
            return _open(stored[len(UNBOUND_PREFIX) :], None).decode("utf-8")
        if stored.startswith(FERNET_PREFIX):
            return _get_codec().fernet.decrypt(stored[len(FERNET_PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidTag, InvalidToken, UnicodeError, binascii.Error, ValueError):
        raise TokenDecryptionError from None
    return str(stored)  # plaintext: a plain str, whatever subclass of it the caller held


@sensitive_variables()
def rebind(stored: str, associated: bytes) -> str:
    """A stored value in any form (bound, unbound, plaintext) stored again, bound to the place `associated`,
    with the first key: what `slack_store_rotate_keys` and migration 0005 write."""
    return encrypt(decrypt(stored, associated, accept_unbound=True), associated)


def is_current(stored: str, associated: bytes) -> bool:
    """Whether a stored value is bound to the place `associated` with the first key already (nothing for a
    rotation to do)."""
    if not stored.startswith(PREFIX):
        return False
    try:
        _open(stored[len(PREFIX) :], associated, first_key_only=True)
    except (InvalidTag, UnicodeError, binascii.Error, ValueError):
        return False
    return True


@sensitive_variables()
def _open(encoded: str, associated: bytes | None, *, first_key_only: bool = False) -> bytes:
    codec = _get_codec()
    sealed = base64.urlsafe_b64decode(encoded.encode("ascii"))
    return codec.decrypt(sealed, associated, codec.ciphers[:1] if first_key_only else None)


# -- sealing the find cache's entries (cache.py) ---------------------------------------------------------
#
# With a key of their own, derived from the first key with HKDF and an info string of its own: a cache entry
# never opens as a token nor a token as an entry, and cache fills (frequent, each with a random nonce) do not
# spend the number of encryptions the token key is safe for. Only the current first key seals and opens:
# entries sealed before a key rotation are misses, refilled from the database.

_SEAL_KEY_INFO = b"django_slack_store find cache sealing key v1"
_sealing: tuple[_Codec, AESGCM] | None = None  # (the codec it was derived beside, the sealing cipher)


def _sealing_cipher() -> AESGCM:
    """The cipher of the sealing key, derived again whenever the codec is (its settings changed)."""
    codec = _get_codec()  # checks the keys
    sealing = _sealing
    if sealing is None or sealing[0] is not codec:
        sealing = _derive_sealing(codec)
    return sealing[1]


@sensitive_variables()
def _derive_sealing(codec: _Codec) -> tuple[_Codec, AESGCM]:
    global _sealing
    keys = configured_keys()
    first = force_bytes(keys[0]) if keys else derive_key(settings.SECRET_KEY)
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_SEAL_KEY_INFO)
    _sealing = (codec, AESGCM(kdf.derive(base64.urlsafe_b64decode(first))))
    return _sealing


@sensitive_variables()
def seal(data: bytes, associated_data: bytes) -> bytes:
    """`data` encrypted and authenticated with the sealing key, bound to `associated_data` (what it is the
    value of): `unseal()` opens it with the same associated data only."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _sealing_cipher().encrypt(nonce, data, associated_data)


def unseal(sealed: object, associated_data: bytes) -> bytes | None:
    """What `seal()` sealed with `associated_data`, or None: sealed with another key or associated data,
    damaged, or not sealed at all."""
    if not isinstance(sealed, bytes):
        return None
    try:
        return _sealing_cipher().decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated_data)
    except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
        return None
