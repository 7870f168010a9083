"""Researcher access that lasts, on SQLite and PostgreSQL: named tokens made, listed and revoked with
``python -m server researcher``, stored hashed; login cookies that survive a restart and stop working
when their token is revoked or at logout; a token made at the first start kept at the next; the
--admin-token still working."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from server import Settings, create_app, keys
from server.storage.db import Database
from server.storage.models import logins, researchers
from server.studies import researchers as named_tokens
from server.studies.auth import COOKIE

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_server import StubAnalyzer

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "admin-token-for-the-access-tests-0123"


def cli(*args, database: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", "researcher", *args, "--database", database], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "FER_DATABASE": ""})


async def started(database_url, admin=None) -> TestClient:
    client = TestClient(TestServer(create_app(Settings(database=database_url, admin_token=admin),
                                              analyzer=StubAnalyzer())))
    await client.start_server()
    return client


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def log_in(client, token) -> str:
    resp = await client.post("/login", data={"token": token, "next": "/studies"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return resp.cookies[COOKIE].value


def with_cookie(value):
    return {"Cookie": f"{COOKIE}={value}"}


@pytest.mark.asyncio
async def test_named_tokens_from_the_command_line_logins_across_restarts_and_revocation(database_url):
    made = cli("add", "alice", database=database_url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.split("\n")[1].strip()
    assert len(token) >= 43 and "alice" in made.stdout
    assert cli("add", "alice", database=database_url).returncode == 1  # taken
    bad = cli("add", "has space", database=database_url)
    assert bad.returncode != 0 and "name" in (bad.stderr or "")
    assert cli("add", "admin", database=database_url).returncode == 1  # the --admin-token's name
    assert cli("add", "bob", database=database_url).returncode == 0

    db = Database(database_url)  # only the hash is stored
    await db.open()
    async with db.engine.connect() as conn:
        stored = (await conn.execute(researchers.select())).all()
    await db.close()
    assert {r.name for r in stored} == {"alice", "bob"} and token not in str(stored)

    client = await started(database_url)
    try:
        assert client.app[keys.STUDIES].made_token is None  # tokens exist: none made at this start
        assert (await client.get("/api/researcher")).status == 401
        assert (await client.get("/api/researcher", headers=bearer(token))).status == 200
        created = await client.post("/api/studies", headers=bearer(token),
                                    json={"title": "T", "consent": "C", "tasks": ["a"]})
        assert created.status == 201
        study = await created.json()
        cookie = await log_in(client, token)
        assert cookie != token and token not in cookie
        resp = await client.get("/api/researcher", headers=with_cookie(cookie))
        assert (await resp.json()) == {"name": "alice"}
    finally:
        await client.close()

    # a restart between the login and the page load: the cookie still works
    client = await started(database_url)
    try:
        page = await client.get(f"/studies/{study['id']}", headers=with_cookie(cookie), allow_redirects=False)
        assert page.status == 200 and 'id="timeline"' in await page.text()

        listed = cli("list", database=database_url)
        assert listed.returncode == 0 and "alice" in listed.stdout and "bob" in listed.stdout
        assert "1 login(s)" in next(line for line in listed.stdout.splitlines() if line.startswith("alice"))
        # revoked (from another process, while the server runs): the token and its cookies stop at once
        revoked = cli("revoke", "alice", database=database_url)
        assert revoked.returncode == 0, revoked.stderr
        assert cli("revoke", "alice", database=database_url).returncode == 1
        for headers in (bearer(token), with_cookie(cookie)):
            assert (await client.get("/api/studies", headers=headers)).status == 401
        page = await client.get(f"/studies/{study['id']}", headers=with_cookie(cookie), allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login")
        resp = await client.post("/login", data={"token": token}, allow_redirects=False)
        assert resp.status == 401 and "revoked" in await resp.text()
        ws = await client.get(f"/api/studies/{study['id']}/live", headers=with_cookie(cookie))
        assert ws.status == 401  # the results page's live view says "Log in again" on this
        assert "log in again" in (await ws.json())["error"]
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_logout_ends_the_login_on_the_server(database_url):
    client = await started(database_url, admin=ADMIN)
    try:
        cookie = await log_in(client, ADMIN)
        assert (await client.get("/api/studies", headers=with_cookie(cookie))).status == 200
        resp = await client.post("/logout", headers=with_cookie(cookie), allow_redirects=False)
        assert resp.status == 303 and resp.cookies[COOKIE].value == ""
        # a copy of the cookie kept after the logout (another tab, a stolen value) no longer works
        assert (await client.get("/api/studies", headers=with_cookie(cookie))).status == 401
        db = client.app[keys.STUDIES].db
        async with db.engine.connect() as conn:
            assert (await conn.execute(logins.select())).all() == []
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_first_start_token_is_kept_and_admin_token_changes_end_its_logins(database_url):
    client = await started(database_url)
    made = client.app[keys.STUDIES].made_token
    try:
        assert made and len(made) >= 43
        assert (await client.get("/api/studies", headers=bearer(made))).status == 200
        cookie = await log_in(client, made)
    finally:
        await client.close()
    client = await started(database_url)  # the next start: no new token, the first one still works
    try:
        assert client.app[keys.STUDIES].made_token is None
        assert (await client.get("/api/studies", headers=bearer(made))).status == 200
        assert (await client.get("/api/studies", headers=with_cookie(cookie))).status == 200
    finally:
        await client.close()

    client = await started(database_url, admin=ADMIN)  # --admin-token still works, beside the named tokens
    try:
        admin_cookie = await log_in(client, ADMIN)
        assert (await (await client.get("/api/researcher", headers=with_cookie(admin_cookie))).json()) == {
            "name": "admin"}
    finally:
        await client.close()
    client = await started(database_url, admin=ADMIN + "-changed")
    try:  # the logins made with the old admin token end with it
        assert (await client.get("/api/studies", headers=with_cookie(admin_cookie))).status == 401
        assert (await client.get("/api/studies", headers=bearer(ADMIN))).status == 401
        assert (await client.get("/api/studies", headers=bearer(made))).status == 200
    finally:
        await client.close()


@pytest.mark.asyncio
async def test_revoked_and_wrong_named_tokens_count_as_guesses_a_login_cookie_never(database_url):
    """The per-address limit on wrong researcher tokens (middleware.limit_token_guesses, issue 23) over the
    named tokens of the database: a revoked token tried as Bearer, at the login form and in ``?token=`` is
    a wrong token (401, counted); past the limit every token from that address gets 429, a valid one too,
    while a valid login cookie (not a token) still opens the pages."""
    client = TestClient(TestServer(create_app(Settings(database=database_url, max_token_failures=3),
                                              analyzer=StubAnalyzer())))
    await client.start_server()
    try:
        db = client.app[keys.STUDIES].db
        alice, bob = await named_tokens.add(db, "alice"), await named_tokens.add(db, "bob")
        cookie = await log_in(client, bob)
        assert (await client.get("/api/studies", headers=bearer(alice))).status == 200
        assert await named_tokens.revoke(db, "alice")
        assert (await client.get("/api/studies", headers=bearer(alice))).status == 401
        assert (await client.post("/login", data={"token": alice}, allow_redirects=False)).status == 401
        assert (await client.get(f"/studies?token={alice}", allow_redirects=False)).status == 401
        for attempt in (client.get("/api/studies", headers=bearer(bob)),
                        client.post("/login", data={"token": bob}, allow_redirects=False)):
            resp = await attempt
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        assert (await client.get("/api/studies", headers=with_cookie(cookie))).status == 200
        assert (await client.get("/studies", headers=with_cookie(cookie), allow_redirects=False)).status == 200
    finally:
        await client.close()
