"""``cloud_identities``: the fingerprint of the cloud behind each label (see app/cloud/identity.py)."""

from __future__ import annotations

from sqlalchemy import select, update

from app.cloud.identity import CloudIdentity, derive_label
from app.config import Settings
from app.db.bookkeeping import cloud_identities
from app.db.engine import Database, dialect_insert, utcnow
from app.errors import Conflict


async def claim_label(db: Database, label: str, identity: CloudIdentity) -> None:
    """Record ``identity`` for ``label`` on first use; refuse (Conflict) a label already recorded for
    another cloud, saying which and what to do."""
    t = cloud_identities
    now = utcnow()
    async with db.writer() as conn:
        row = (await conn.execute(select(t.c.fingerprint, t.c.auth_url, t.c.region, t.c.project)
                                  .where(t.c.cloud == label))).first()
        if row is None:
            await conn.execute(dialect_insert(db.dialect_name, t).values(
                cloud=label, fingerprint=identity.fingerprint, auth_url=identity.auth_url[:512],
                region=identity.region[:128], project=identity.project[:256], first_seen_at=now, last_seen_at=now,
            ).on_conflict_do_nothing(index_elements=[t.c.cloud]))
            row = (await conn.execute(select(t.c.fingerprint, t.c.auth_url, t.c.region, t.c.project)
                                      .where(t.c.cloud == label))).first()
        assert row is not None
        if row.fingerprint != identity.fingerprint:
            recorded = CloudIdentity(row.auth_url or "", row.region or "", row.project or "", None)
            raise Conflict(
                f"The snapshot database already holds cloud label {label!r} for {recorded.describe()}; this "
                f"server is configured for {identity.describe()}. Serving it would mix two clouds' rows. Set "
                "OPS_CLOUD_LABEL to a label of its own (or OS_CLOUD to the clouds.yaml entry), or use another "
                "OPS_DATABASE_URL."
            )
        await conn.execute(update(t).where(t.c.cloud == label).values(last_seen_at=now))


async def bind_label(settings: Settings, db: Database, identity: CloudIdentity) -> Settings:
    """The settings with their cloud label resolved (``OPS_CLOUD_LABEL``, else derived from the
    cloud's identity) and claimed in the database for that cloud."""
    if not settings.cloud_name:
        settings = settings.model_copy(update={"cloud_name": derive_label(identity)})
    await claim_label(db, settings.cloud_name, identity)
    return settings
