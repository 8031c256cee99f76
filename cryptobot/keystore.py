"""Exchange API keys, encrypted at rest in the warehouse's ``exchanges`` table (rule 7).

**Where keys come from** (first found wins), for the configured ``exchange``:

1. the environment: ``CRYPTOBOT_EXCHANGE_API_KEY`` and ``CRYPTOBOT_EXCHANGE_SECRET`` (both, or
   neither: one without the other is refused);
2. the key store: ``cryptobot keys set EXCHANGE`` encrypted them into ``exchanges``
   (``api_key_encrypted``, ``secret_key_encrypted``).

**Encryption.** Each value is sealed on its own with AES-256-GCM under a key derived from the
passphrase by scrypt (n=2^15, r=8, p=1, ~80 ms) with a fresh random 16-byte salt and 12-byte
nonce, stored with the ciphertext as ``v1:scrypt:<salt>:<nonce>:<ciphertext+tag>`` (base64).
The exchange's name and the column are the associated data, so a value copied to another
exchange's row or to the other column does not decrypt. A wrong passphrase fails the GCM tag
check and is an error, never garbage keys.

**Passphrase.** ``CRYPTOBOT_KEYSTORE_PASSPHRASE``, else the Prefect Secret block named by
``CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK`` (read by the caller's ``read_secret_block``: this core
module does not import Prefect). Both the passphrase and every decrypted key are registered with
:mod:`cryptobot.redact`, so no log record of the process can show them.

**Validation.** Keys are stripped of surrounding blanks (a pasted trailing newline) and refused
when empty, too short or long, or holding a blank, control or non-ASCII character inside; a
secret may also be a PEM private key (Binance's Ed25519/RSA keys), whose lines are kept. Error
messages name the exchange, the field and the position of the bad character, never the value.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr

from cryptobot import redact
from cryptobot.config import Settings
from cryptobot.errors import KeyStoreError, TradingError

FORMAT_VERSION = "v1"
KDF = "scrypt"
#: scrypt cost of format v1 (32 MiB of memory, ~80 ms a derivation)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_BYTES, NONCE_BYTES, KEY_BYTES = 16, 12, 32
#: plausible lengths of an API key or secret (Binance's are 64, Kraken's secret 88, OKX's 32)
MIN_KEY_LENGTH, MAX_KEY_LENGTH = 16, 512
#: a PEM private key (Binance Ed25519/RSA secrets) may be longer and spans lines
MAX_PEM_LENGTH = 8192
MIN_PASSPHRASE_LENGTH = 12
PASSPHRASE_ENV = "CRYPTOBOT_KEYSTORE_PASSPHRASE"
PASSPHRASE_BLOCK_ENV = "CRYPTOBOT_KEYSTORE_PASSPHRASE_BLOCK"
API_KEY_ENV = "CRYPTOBOT_EXCHANGE_API_KEY"
SECRET_ENV = "CRYPTOBOT_EXCHANGE_SECRET"

Field = Literal["api_key", "secret"]
#: the column each field is stored in
COLUMNS: dict[str, str] = {"api_key": "api_key_encrypted", "secret": "secret_key_encrypted"}
_LABELS = {"api_key": "API key", "secret": "secret"}

#: reads a Prefect Secret block by name (the flows' and CLI's ``read_secret_block``)
SecretBlockReader = Callable[[str], str]


@dataclass(frozen=True)
class ExchangeKeys:
    """An exchange's credentials and where they came from; the values print as ``**********``."""

    exchange: str
    api_key: SecretStr
    secret: SecretStr
    source: Literal["environment", "key store"]


@dataclass(frozen=True)
class StoredKeys:
    """A row of the key store as listed without decrypting it."""

    exchange: str
    updated_at: datetime


# -- validation ----------------------------------------------------------------------------------


#: the first and last line of a PEM block
_PEM_BOUNDARY = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")


def _bad_character(value: str) -> tuple[int, str] | None:
    for position, char in enumerate(value, start=1):
        if char.isspace():
            return position, "a blank (space, tab or line break)"
        if not char.isprintable() or ord(char) < 32:
            return position, "a control character"
        if not char.isascii():
            return position, "a non-ASCII character (a pasted quote or dash?)"
    return None


def check_key_value(value: str, *, what: str) -> str:
    """``value`` stripped of surrounding blanks, or KeyStoreError saying what is wrong with it.

    ``what`` names the value in the message (``"binance API key"``); the value itself is never
    part of a message.
    """
    text = value.strip()
    if not text:
        raise KeyStoreError(f"the {what} is empty")
    if text.startswith("-----BEGIN ") and "PRIVATE KEY-----" in text:
        lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
        lines = [line for line in lines if line]
        text = "\n".join(lines)
        well_formed = (
            len(lines) >= 3
            and _PEM_BOUNDARY.fullmatch(lines[0])
            and _PEM_BOUNDARY.fullmatch(lines[-1])
            and all(_bad_character(line) is None for line in lines[1:-1])
        )
        if not well_formed or len(text) > MAX_PEM_LENGTH:
            raise KeyStoreError(
                f"the {what} looks like a PEM private key but is not a well-formed one "
                f"({len(text)} characters; the value is not shown): paste the whole block from "
                "-----BEGIN to -----END ...-----"
            )
        return text
    bad = _bad_character(text)
    if bad is not None:
        position, kind = bad
        raise KeyStoreError(
            f"the {what} holds {kind} at character {position} of {len(text)} (the value is not "
            "shown): copy it again from the exchange's API management page"
        )
    if not MIN_KEY_LENGTH <= len(text) <= MAX_KEY_LENGTH:
        raise KeyStoreError(
            f"the {what} has {len(text)} characters, not a plausible key length "
            f"({MIN_KEY_LENGTH} to {MAX_KEY_LENGTH}; the value is not shown): copy it again "
            "from the exchange's API management page"
        )
    return text


# -- encryption ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _derive(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))


def _associated_data(exchange: str, field: Field) -> bytes:
    return f"cryptobot keystore {FORMAT_VERSION} {exchange} {COLUMNS[field]}".encode()


def encrypt(value: str, passphrase: str, *, exchange: str, field: Field) -> str:
    """``value`` sealed for ``exchange``'s ``field``: ``v1:scrypt:<salt>:<nonce>:<ciphertext>``."""
    salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
    sealed = AESGCM(_derive(passphrase, salt)).encrypt(
        nonce, value.encode("utf-8"), _associated_data(exchange, field)
    )
    return ":".join((FORMAT_VERSION, KDF, _b64(salt), _b64(nonce), _b64(sealed)))


def decrypt(token: str, passphrase: str, *, exchange: str, field: Field) -> str:
    """The value :func:`encrypt` sealed; KeyStoreError for a wrong passphrase or altered record."""
    where = f"the stored {exchange} {_LABELS[field]} (exchanges.{COLUMNS[field]})"
    parts = token.split(":")
    if len(parts) != 5 or parts[0] != FORMAT_VERSION or parts[1] != KDF:
        version = parts[0] if parts and len(parts[0]) <= 8 else "?"
        raise KeyStoreError(
            f"{where} is not in a format this version reads (format {version!r}, expected "
            f"{FORMAT_VERSION}:{KDF}:...): store the keys again with "
            f"`cryptobot keys set {exchange}`"
        )
    try:
        salt, nonce, sealed = (base64.b64decode(p, validate=True) for p in parts[2:])
    except ValueError:
        raise KeyStoreError(
            f"{where} is damaged (not base64): store the keys again with "
            f"`cryptobot keys set {exchange}`"
        ) from None
    if len(salt) != SALT_BYTES or len(nonce) != NONCE_BYTES:
        raise KeyStoreError(f"{where} is damaged (bad salt or nonce length)")
    try:
        plain = AESGCM(_derive(passphrase, salt)).decrypt(
            nonce, sealed, _associated_data(exchange, field)
        )
    except InvalidTag:
        raise KeyStoreError(
            f"cannot decrypt {where}: the passphrase ({PASSPHRASE_ENV} or the Prefect Secret "
            "block) is not the one it was stored with, or the record was altered or copied from "
            f"another exchange. Use the right passphrase, or store the keys again with "
            f"`cryptobot keys set {exchange}`"
        ) from None
    return plain.decode("utf-8")


# -- passphrase ----------------------------------------------------------------------------------


def passphrase(settings: Settings, read_secret_block: SecretBlockReader | None = None) -> str:
    """The key store's passphrase: the setting, else the named Prefect Secret block.

    Raises KeyStoreError when neither is configured or the passphrase is too short.
    """
    value = None
    origin = PASSPHRASE_ENV
    if settings.keystore_passphrase is not None:
        value = settings.keystore_passphrase.get_secret_value()
    elif settings.keystore_passphrase_block:
        origin = f"Prefect Secret block {settings.keystore_passphrase_block!r}"
        if read_secret_block is None:
            raise KeyStoreError(
                f"the key store's passphrase is in the {origin}, which this command cannot "
                f"read: set {PASSPHRASE_ENV} instead"
            )
        value = read_secret_block(settings.keystore_passphrase_block)
    if value is None or not value.strip():
        raise KeyStoreError(
            f"the key store needs a passphrase: set {PASSPHRASE_ENV} (at least "
            f"{MIN_PASSPHRASE_LENGTH} characters), or {PASSPHRASE_BLOCK_ENV} to the name of a "
            "Prefect Secret block holding it"
        )
    redact.register(value)
    value = value.strip()
    if len(value) < MIN_PASSPHRASE_LENGTH:
        raise KeyStoreError(
            f"the key store's passphrase from {origin} has {len(value)} characters: use at "
            f"least {MIN_PASSPHRASE_LENGTH}"
        )
    return value


# -- the table -----------------------------------------------------------------------------------


def store_keys(
    settings: Settings, exchange: str, api_key: str, secret: str, passphrase_value: str
) -> None:
    """Validate and encrypt ``exchange``'s keys into ``exchanges`` (replacing stored ones)."""
    from cryptobot.warehouse.db import write_connection

    api_key = check_key_value(api_key, what=f"{exchange} API key")
    secret = check_key_value(secret, what=f"{exchange} secret")
    redact.register(api_key, secret)
    if api_key == secret:
        raise KeyStoreError(
            f"the {exchange} API key and secret are the same value: paste each from its own "
            "field of the exchange's API management page"
        )
    sealed_key = encrypt(api_key, passphrase_value, exchange=exchange, field="api_key")
    sealed_secret = encrypt(secret, passphrase_value, exchange=exchange, field="secret")
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        other = con.execute(
            "select name, api_key_encrypted from exchanges where name <> ? and "
            "api_key_encrypted is not null order by name limit 1",
            [exchange],
        ).fetchone()
        if other is not None:
            _check_same_passphrase(other[0], other[1], passphrase_value)
        con.execute(
            "insert into exchanges (name, api_key_encrypted, secret_key_encrypted, updated_at) "
            "values (?, ?, ?, now()::timestamp) on conflict (name) do update set "
            "api_key_encrypted = excluded.api_key_encrypted, "
            "secret_key_encrypted = excluded.secret_key_encrypted, "
            "updated_at = excluded.updated_at",
            [exchange, sealed_key, sealed_secret],
        )


def _check_same_passphrase(exchange: str, sealed: str, passphrase_value: str) -> None:
    """One passphrase per store: refuse to add keys another passphrase could not read back."""
    try:
        decrypt(sealed, passphrase_value, exchange=exchange, field="api_key")
    except KeyStoreError:
        raise KeyStoreError(
            f"the passphrase does not decrypt the keys already stored for {exchange}: the store "
            "has one passphrase, so nothing was stored. Use the same passphrase, or remove the "
            f"other keys first (`cryptobot keys remove {exchange}`)"
        ) from None


def remove_keys(settings: Settings, exchange: str) -> bool:
    """Forget ``exchange``'s stored keys (the row and its market data stay); False if none."""
    from cryptobot.warehouse.db import write_connection

    if not settings.warehouse.exists():
        return False
    with write_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        found = con.execute(
            "select count(*) from exchanges where name = ? and "
            "(api_key_encrypted is not null or secret_key_encrypted is not null)",
            [exchange],
        ).fetchone()[0]
        if found:
            con.execute(
                "update exchanges set api_key_encrypted = null, secret_key_encrypted = null, "
                "updated_at = now()::timestamp where name = ?",
                [exchange],
            )
    return bool(found)


def stored(settings: Settings) -> list[StoredKeys]:
    """The exchanges that have keys in the store (nothing is decrypted)."""
    from cryptobot.warehouse.db import read_connection

    if not settings.warehouse.exists():
        return []
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        rows = con.execute(
            "select name, updated_at from exchanges where api_key_encrypted is not null "
            "and secret_key_encrypted is not null order by name"
        ).fetchall()
    return [StoredKeys(exchange=name, updated_at=updated_at) for name, updated_at in rows]


def load_stored_keys(
    settings: Settings, exchange: str, passphrase_value: str
) -> ExchangeKeys | None:
    """``exchange``'s keys decrypted from the store, or None when it holds none."""
    from cryptobot.warehouse.db import read_connection

    if not settings.warehouse.exists():
        return None
    with read_connection(settings.warehouse, timeout=settings.write_lock_timeout) as con:
        row = con.execute(
            "select api_key_encrypted, secret_key_encrypted from exchanges where name = ?",
            [exchange],
        ).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    api_key = decrypt(row[0], passphrase_value, exchange=exchange, field="api_key")
    secret = decrypt(row[1], passphrase_value, exchange=exchange, field="secret")
    redact.register(api_key, secret)
    return ExchangeKeys(exchange, SecretStr(api_key), SecretStr(secret), "key store")


# -- resolution ----------------------------------------------------------------------------------


def environment_keys(settings: Settings) -> ExchangeKeys | None:
    """The keys in the environment (for ``settings.exchange``), None if neither is set.

    Raises TradingError when only one of the two is set.
    """
    values = {
        API_KEY_ENV: settings.exchange_api_key,
        SECRET_ENV: settings.exchange_secret,
    }
    present = {name: v for name, v in values.items() if v is not None and v.get_secret_value()}
    if not present:
        return None
    if len(present) == 1:
        missing = next(name for name in values if name not in present)
        raise TradingError(
            f"{missing} is not set but {next(iter(present))} is: set both exchange keys in the "
            f"environment, or neither to use the key store (`cryptobot keys set "
            f"{settings.exchange}`)"
        )
    redact.register(present[API_KEY_ENV].get_secret_value(), present[SECRET_ENV].get_secret_value())
    return ExchangeKeys(settings.exchange, present[API_KEY_ENV], present[SECRET_ENV], "environment")


def exchange_keys(
    settings: Settings, read_secret_block: SecretBlockReader | None = None
) -> ExchangeKeys | None:
    """``settings.exchange``'s keys: the environment's, else the key store's, else None.

    The passphrase is only needed (and only asked for) when the keys come from the store.
    """
    keys = environment_keys(settings)
    if keys is not None:
        return keys
    if not any(row.exchange == settings.exchange for row in stored(settings)):
        return None
    return load_stored_keys(settings, settings.exchange, passphrase(settings, read_secret_block))


def mask(value: str) -> str:
    """An API key as ``keys list`` shows it: its last four characters (``…x9Qa``), as exchanges
    show a key in their own lists. A secret is never shown, not even masked."""
    return "…" + value[-4:] if len(value) >= MIN_KEY_LENGTH else "…"
