"""``mcp-openstack-ops db upgrade|downgrade|current|regenerate-initial``: manage the snapshot schema (Alembic)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="manage the snapshot database schema (migrations)")
    p.add_argument("--database-url", default=None, help="database URL (default: OPS_DATABASE_URL / settings)")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply migrations up to a revision (default: head)")
    up.add_argument("--revision", default="head")
    up.set_defaults(func=_upgrade)
    down = dsub.add_parser("downgrade", help="revert migrations down to a revision (default: base = empty)")
    down.add_argument("--revision", default="base")
    down.set_defaults(func=_downgrade)
    cur = dsub.add_parser("current", help="print the database's revision and the code's head revision")
    cur.set_defaults(func=_current)
    regen = dsub.add_parser("regenerate-initial",
                            help="(development) rewrite 0001_initial from the table definitions; review the diff: index changes made by later revisions get folded in")
    regen.set_defaults(func=_regenerate_initial)
    for sp in (up, down, cur):
        sp.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _url(args: argparse.Namespace) -> str:
    from app.config import load_settings

    return load_settings(database_url=getattr(args, "database_url", None)).database_url


def _upgrade(args: argparse.Namespace) -> int:
    from app.db.migrate import current, upgrade

    url = _url(args)
    upgrade(url, args.revision)
    print(f"database at revision {current(url)}", file=sys.stderr)
    return 0


def _downgrade(args: argparse.Namespace) -> int:
    from app.db.migrate import current, downgrade

    url = _url(args)
    downgrade(url, args.revision)
    print(f"database at revision {current(url) or 'base (empty)'}", file=sys.stderr)
    return 0


def _current(args: argparse.Namespace) -> int:
    from app.db.migrate import current, head

    rev = current(_url(args))
    print(f"current: {rev or 'none'}")
    print(f"head:    {head()}")
    return 0 if rev == head() else 1


def _regenerate_initial(_args: argparse.Namespace) -> int:
    from app.db.migrate import regenerate_initial

    print(f"rewrote {regenerate_initial()}", file=sys.stderr)
    return 0
