"""The token codec: how tokens and refresh tokens are encrypted at rest (see docs/security.md).

A stored token is `fernet:` followed by a Fernet token (AES-128-CBC with an HMAC-SHA256, from the
`cryptography` package): authenticated, so a wrong key or a damaged value is detected, never decrypted into
garbage. Keys come from `DJANGO_SLACK_STORE["ENCRYPTION_KEYS"]`: the first encrypts, every key decrypts.
Without that setting the key is derived from `SECRET_KEY`. Keys derived from `SECRET_KEY` and
`SECRET_KEY_FALLBACKS` always decrypt too, so moving from the default to explicit keys, or rotating
`SECRET_KEY`, never leaves a row unreadable before `manage.py slack_store_rotate_keys` has re-encrypted it.

A stored value without the prefix is plaintext written before encryption existed: it reads as it is, and
`slack_store_rotate_keys` encrypts it. Fernet is not deterministic (each encryption of one token differs),
so a token can never be looked up by value; `TokenField` refuses such lookups.
"""

import base64
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.encoding import force_bytes
from django.views.decorators.debug import sensitive_variables

from .conf import store_settings

# The scheme's tag: a value starting with it is encrypted; anything else is legacy plaintext.
PREFIX = "fernet:"

# HKDF's salt and info: keys derived from SECRET_KEY here are of no use anywhere else, and vice versa.
_KDF_SALT = b"django_slack_store"
_KDF_INFO = b"django_slack_store token encryption key v1"


class TokenDecryptionError(Exception):
    """A stored token that no configured key decrypts: its key was removed, or the value is damaged.

    Names the row (model and primary key, when known) and the column; never holds the value. Deliberately not
    a `ValueError`: that means bad input in the store's API, and this is a configuration or data problem that
    must never be mistaken for one (nor for "not installed").
    """

    def __init__(self, *, model=None, field_name=None, pk=None):
        super().__init__()
        self.model, self.field_name, self.pk = model, field_name, pk

    def __str__(self):
        column = f"{self.model.__name__ if self.model else '?'}.{self.field_name or '?'}"
        row = f"row pk={self.pk}" if self.pk is not None else "a row"
        return (
            f"Cannot decrypt {column} of {row} with any key in DJANGO_SLACK_STORE['ENCRYPTION_KEYS'] "
            "(or derived from SECRET_KEY / SECRET_KEY_FALLBACKS): the key it was encrypted with is no longer "
            "configured, or the stored value is damaged."
        )


def derive_key(secret) -> bytes:
    """The Fernet key this app derives from a Django secret key (HKDF-SHA256)."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, info=_KDF_INFO)
    return base64.urlsafe_b64encode(kdf.derive(force_bytes(secret)))


def generate_key() -> str:
    """A new random key for ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")


def configured_keys() -> list:
    """ENCRYPTION_KEYS as set (an empty list when unset); `checks.py` reports what is wrong with it."""
    keys = store_settings.ENCRYPTION_KEYS
    return [] if keys is None else keys


@sensitive_variables()
def is_valid_key(key) -> bool:
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
    """The keys in use: `encrypter` holds the first, `decrypter` all of them, in order."""

    @sensitive_variables()
    def __init__(self):
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
        fernets = [Fernet(key) for key in keys]
        derived = [derive_key(secret) for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]
        explicit = {force_bytes(key) for key in keys}
        fernets.extend(Fernet(key) for key in dict.fromkeys(derived) if key not in explicit)
        self.encrypter = fernets[0]
        self.decrypter = MultiFernet(fernets)


_codec = None
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
def _forget_keys(setting, **kwargs):
    global _codec
    if setting in ("DJANGO_SLACK_STORE", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        _codec = None


@sensitive_variables()
def encrypt(token: str) -> str:
    """The stored form of `token`, encrypted with the first key."""
    return PREFIX + _get_codec().encrypter.encrypt(token.encode("utf-8")).decode("ascii")


def decrypt(stored: str, *, model=None, field_name=None, pk=None) -> str:
    """The token in a stored value (legacy plaintext as it is); `TokenDecryptionError` names the row."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _get_codec().decrypter.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise TokenDecryptionError(model=model, field_name=field_name, pk=pk) from None


def is_current(stored: str) -> bool:
    """Whether a stored value is encrypted with the first key already (nothing for a rotation to do)."""
    if not stored.startswith(PREFIX):
        return False
    try:
        _get_codec().encrypter.decrypt(stored[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True


@sensitive_variables()
def seal(data: bytes) -> bytes:
    """`data` encrypted and authenticated with the first key (the find cache's entries in a shared cache)."""
    return _get_codec().encrypter.encrypt(data)


def unseal(sealed: bytes) -> bytes | None:
    """What `seal()` sealed, or None when no configured key opens it (a removed key, or tampering)."""
    try:
        return _get_codec().decrypter.decrypt(sealed)
    except (InvalidToken, TypeError):
        return None
