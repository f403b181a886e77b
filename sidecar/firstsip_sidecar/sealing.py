"""Sealed per-run secrets: AES-256-GCM, the format of docs/protocol.md "Sealed secrets".

``"v1." + base64(nonce[12] || ciphertext || tag[16])``, the plaintext a UTF-8 JSON object of
string values, the associated data the run id exactly as written in the payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Dict, Mapping, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import SecretsError

PREFIX = "v1."
NONCE_BYTES = 12
TAG_BYTES = 16


def seal(secrets: Mapping[str, str], key: bytes, run_id: str) -> str:
    """Seals secrets for one run (the publisher's side; the sidecar only opens).

    :param secrets: names to values, all strings.
    :param key: the 32-byte shared key.
    :param run_id: the run id exactly as written in the request payload.
    """
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(dict(secrets), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    sealed = AESGCM(key).encrypt(nonce, plaintext, run_id.encode("utf-8"))
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def open_secrets(text: str, key: Optional[bytes], run_id: str) -> Dict[str, str]:
    """Opens a run's sealed secrets.

    :param text: the request's ``secrets`` field.
    :param key: the 32-byte shared key, or ``None`` when the sidecar has none.
    :param run_id: the run id exactly as written in the request payload.
    :raises SecretsError: with the reason (the message never contains the secrets).
    """
    if key is None:
        raise SecretsError("no FIRSTSIP_SEAL_KEY is configured")
    if not text.startswith(PREFIX):
        raise SecretsError("unsupported format (expected the v1. prefix)")
    try:
        blob = base64.b64decode(text[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise SecretsError("the sealed text is not base64") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise SecretsError("the sealed text is too short")
    try:
        plaintext = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], run_id.encode("utf-8"))
    except InvalidTag:
        raise SecretsError("authentication failed (wrong key, tampered text, or secrets of another run)") from None
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SecretsError("the opened secrets are not JSON") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise SecretsError("the opened secrets are not an object of string values")
    return data
