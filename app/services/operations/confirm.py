"""Two-step confirmation tokens for destructive actions.

``issue`` stores the SHA-256 of a random token together with the SHA-256 of its *binding*: the tool,
action, canonical arguments, resolved target ids and principal. ``consume`` accepts a token only for
exactly that binding, before ``expires_at``, once: the single use is an atomic
``UPDATE ... SET used_at WHERE token_hash = ? AND used_at IS NULL`` (rowcount 1), so two replicas (or
two concurrent calls) cannot both execute with one token. Every refusal is a ``NotPermitted`` that
says what to do (ask for a new preview)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update

from app.db.engine import Database, utcnow
from app.errors import NotPermitted
from app.services.operations.tables import confirmation_tokens as tokens

TOKEN_PREFIX = "confirm-"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def canonical_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments that define *what* is done: ``None`` and empty strings dropped, keys sorted."""
    return {k: arguments[k] for k in sorted(arguments) if arguments[k] is not None and arguments[k] != ""}


def binding_of(tool: str, action: str, arguments: Mapping[str, Any], target_ids: Sequence[str],
               principal: str) -> str:
    doc = {"tool": tool, "action": action, "arguments": canonical_arguments(arguments),
           "targets": sorted(target_ids), "principal": principal}
    return _sha(json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str))


class ConfirmationStore:
    def __init__(self, db: Database, cloud: str, ttl_seconds: float) -> None:
        self.db = db
        self.cloud = cloud
        self.ttl = timedelta(seconds=ttl_seconds)

    async def issue(self, tool: str, action: str, arguments: Mapping[str, Any], target_ids: Sequence[str],
                    principal: str) -> tuple[str, datetime]:
        """A new token (returned once, stored hashed) and its expiry (naive UTC)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(18)
        now = utcnow()
        expires = now + self.ttl
        async with self.db.writer() as conn:
            await conn.execute(delete(tokens).where(tokens.c.expires_at < now - timedelta(days=1)))
            await conn.execute(tokens.insert().values(
                token_hash=_sha(token), cloud=self.cloud, tool=tool, action=action,
                binding=binding_of(tool, action, arguments, target_ids, principal),
                targets=list(target_ids), principal=principal, created_at=now, expires_at=expires, used_at=None))
        return token, expires

    async def consume(self, token: str, tool: str, action: str, arguments: Mapping[str, Any],
                      target_ids: Sequence[str], principal: str) -> None:
        """Accept ``token`` for exactly this call, once; otherwise raise ``NotPermitted``."""
        again = ("Call again without confirmation_token to get a fresh preview and token, show the preview "
                 "to the user, then repeat the same call with that token.")
        h = _sha(token.strip())
        now = utcnow()
        async with self.db.writer() as conn:
            row = (await conn.execute(select(tokens).where(tokens.c.token_hash == h, tokens.c.cloud == self.cloud))
                   ).mappings().first()
            if row is None:
                raise NotPermitted(f"Unknown confirmation token. {again}")
            if row["used_at"] is not None:
                raise NotPermitted(f"This confirmation token was already used at {row['used_at']:%Y-%m-%d %H:%M:%S} "
                                   f"UTC; tokens are single-use. {again}")
            if row["expires_at"] <= now:
                raise NotPermitted(f"This confirmation token expired at {row['expires_at']:%Y-%m-%d %H:%M:%S} UTC. "
                                   f"{again}")
            if row["tool"] != tool or row["action"] != action:
                raise NotPermitted(f"This confirmation token was issued for {row['tool']} action "
                                   f"'{row['action']}', not {tool} action '{action}'. {again}")
            if row["binding"] != binding_of(tool, action, arguments, target_ids, principal):
                if sorted(row["targets"] or []) != sorted(target_ids):
                    raise NotPermitted(
                        "This confirmation token was issued for other targets "
                        f"({', '.join(row['targets'] or [])}); the call now resolves to "
                        f"{', '.join(target_ids) or 'nothing'}. {again}")
                raise NotPermitted("This confirmation token was issued for different arguments (or another caller); "
                                   f"nothing was changed. {again}")
            used = await conn.execute(update(tokens).where(tokens.c.token_hash == h, tokens.c.used_at.is_(None))
                                      .values(used_at=now))
            if used.rowcount != 1:
                raise NotPermitted(f"This confirmation token was just used by another call. {again}")
