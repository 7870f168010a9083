"""The researchers' access, kept in the database: named tokens (only their SHA-256 is stored) and the
login cookies made from them.

    token = await add(db, "alice")              # a new token, returned once (python -m server researcher add)
    await names(db)  /  await revoke(db, "alice")    # revoking also ends every login made with it
    name = await token_owner(db, token, admin)   # "alice", "admin" (the --admin-token), or None
    cookie = await log_in(db, token_hash, name)  # a login: a random cookie value, stored hashed
    name = await cookie_owner(db, cookie, admin) # its researcher while the login and its token are valid
    await log_out(db, cookie)                    # that login ends, server-side
    token = await first_token(db)                # a first start without any token: one made ("initial")

A login is valid until it expires (``LOGIN_S``) or is ended, and only while the token it was made
with is valid: a revoked researcher's cookies stop working at once, on every replica; a changed
``--admin-token`` ends the logins made with the old one. Cookies survive a restart (they are in the
database, not in the process).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..storage.db import Database
from ..storage.models import NAME_MAX, logins, researchers

LOGIN_S = 12 * 3600  # a login cookie's lifetime
ADMIN = "admin"  # the name of the --admin-token / FER_ADMIN_TOKEN
FIRST = "initial"  # the token made at the first start, when no token exists
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,%d}" % (NAME_MAX - 1))


class ResearcherError(ValueError):
    """A name that cannot be used, or taken."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ResearcherError(f"a researcher's name is 1 to {NAME_MAX} letters, digits or . _ @ - "
                              "(starting with a letter or digit), e.g. alice or a.smith@lab")
    if name == ADMIN:
        raise ResearcherError(f"{ADMIN!r} is the name of the --admin-token; choose another")
    return name


async def add(db: Database, name: str) -> str:
    """A new researcher ``name``: their token (256 random bits), shown once; ResearcherError if taken."""
    check_name(name)
    token = secrets.token_urlsafe(32)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(insert(researchers), {"name": name, "token_hash": digest(token), "created": time.time()})
    except IntegrityError:
        raise ResearcherError(f"there is already a researcher {name!r} (revoke it first to make a new token)") from None
    return token


async def names(db: Database) -> list[dict]:
    """Every researcher: name, created (seconds since the epoch), logins (valid now)."""
    now = time.time()
    async with db.engine.connect() as conn:
        found = (await conn.execute(select(researchers.c.name, researchers.c.created, researchers.c.token_hash)
                                    .order_by(researchers.c.created))).all()
        live = [r.token_hash for r in await conn.execute(select(logins.c.token_hash).where(logins.c.expires > now))]
    return [{"name": r.name, "created": r.created, "logins": live.count(r.token_hash)} for r in found]


async def revoke(db: Database, name: str) -> bool:
    """The researcher's token stops working, and every login made with it ends. False: no such name."""
    async with db.engine.begin() as conn:
        row = (await conn.execute(select(researchers.c.token_hash).where(researchers.c.name == name))).first()
        if row is None:
            return False
        await conn.execute(delete(logins).where(logins.c.token_hash == row.token_hash))
        await conn.execute(delete(researchers).where(researchers.c.name == name))
    return True


async def first_token(db: Database) -> str | None:
    """At start without an --admin-token: if the database holds no researcher token yet, one is made
    (named ``FIRST``) and returned, to be printed once; else None (the tokens made before stay valid)."""
    async with db.engine.connect() as conn:
        if (await conn.execute(select(researchers.c.name).limit(1))).first() is not None:
            return None
    try:
        return await add(db, FIRST)
    except ResearcherError:  # another replica made it at the same moment
        return None


def _admin_matches(token: str, admin: str | None) -> bool:
    return admin is not None and hmac.compare_digest(token.encode(), admin.encode())


async def token_owner(db: Database, token: str | None, admin: str | None) -> str | None:
    """Whose ``token`` is: ``ADMIN`` for the --admin-token, a researcher's name, or None."""
    if not token or len(token) > 256:
        return None
    if _admin_matches(token, admin):
        return ADMIN
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(researchers.c.name).where(researchers.c.token_hash == digest(token)))).first()
    return None if row is None else row.name


async def log_in(db: Database, token: str, name: str) -> str:
    """A login for the owner of ``token`` (checked by the caller): the cookie's value."""
    cookie = secrets.token_urlsafe(32)
    now = time.time()
    async with db.engine.begin() as conn:
        await conn.execute(delete(logins).where(logins.c.expires < now))  # expired ones, while we are here
        await conn.execute(insert(logins), {"id_hash": digest(cookie), "token_hash": digest(token), "name": name,
                                            "created": now, "expires": now + LOGIN_S})
    return cookie


async def cookie_owner(db: Database, cookie: str | None, admin: str | None) -> str | None:
    """The researcher logged in with ``cookie``, while the login and the token it was made with are valid."""
    if not cookie or len(cookie) > 128:
        return None
    async with db.engine.connect() as conn:
        login = (await conn.execute(select(logins).where(logins.c.id_hash == digest(cookie),
                                                         logins.c.expires > time.time()))).first()
        if login is None:
            return None
        if admin is not None and hmac.compare_digest(login.token_hash, digest(admin)):
            return ADMIN
        row = (await conn.execute(select(researchers.c.name)
                                  .where(researchers.c.token_hash == login.token_hash))).first()
    return None if row is None else row.name


async def log_out(db: Database, cookie: str | None) -> None:
    if cookie and len(cookie) <= 128:
        async with db.engine.begin() as conn:
            await conn.execute(delete(logins).where(logins.c.id_hash == digest(cookie)))
