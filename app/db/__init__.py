"""Database layer: metadata, engine/session setup, the generic upsert/tombstone writer, bookkeeping tables."""
