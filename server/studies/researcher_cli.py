"""``python -m server researcher add NAME | list | revoke NAME [--database URL]``: the researchers' named
tokens in the studies' database (researchers.py). ``add`` prints the new token once: only its hash is kept."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime, timezone

from ..settings import DEFAULT_DATABASE
from ..storage.db import Database, DatabaseError, shown_url
from . import researchers


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--database", default=os.environ.get("FER_DATABASE") or DEFAULT_DATABASE, metavar="URL",
                        help=f"the studies' database (default {DEFAULT_DATABASE}, or $FER_DATABASE)")
    p = argparse.ArgumentParser(prog="python -m server researcher",
                                description="Researchers' tokens for the studies' pages and API.")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", parents=[common], help="make a researcher's token (printed once)")
    add.add_argument("name")
    sub.add_parser("list", parents=[common], help="the researchers and their logins")
    revoke = sub.add_parser("revoke", parents=[common], help="the token stops working, and every login made with it")
    revoke.add_argument("name")
    return p


async def run(args) -> int:
    db = Database(args.database)
    await db.open()
    try:
        if args.command == "add":
            try:
                token = await researchers.add(db, args.name)
            except researchers.ResearcherError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"Researcher {args.name!r} added. Their token (shown only now; keep it secret):\n{token}\n"
                  f"Log in at /login with it, or use it as Authorization: Bearer TOKEN.")
        elif args.command == "list":
            found = await researchers.names(db)
            if not found:
                print(f"No researcher tokens in {shown_url(args.database)}.")
            for r in found:
                made = datetime.fromtimestamp(r["created"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                print(f"{r['name']}\tmade {made}\t{r['logins']} login(s) valid now")
        elif args.command == "revoke":
            if not await researchers.revoke(db, args.name):
                print(f"error: there is no researcher {args.name!r} (python -m server researcher list)", file=sys.stderr)
                return 1
            print(f"Researcher {args.name!r} revoked: their token and logins no longer work.")
        return 0
    finally:
        await db.close()


def main(argv) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except DatabaseError as e:
        print(f"error: --database: {e}", file=sys.stderr)
        return 2
