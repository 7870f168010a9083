"""The studies' pages over HTTP: the login cookie, pages closed without it, the participant's page."""

import pytest
import pytest_asyncio

from server import Settings, create_app
from server.studies.auth import COOKIE

from test_server import StubAnalyzer

TOKEN = "page-token-0123456789abcdef"


@pytest_asyncio.fixture
async def http(aiohttp_client, tmp_path):
    settings = Settings(database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN)
    return await aiohttp_client(create_app(settings, analyzer=StubAnalyzer()))


async def new_study(http, **fields):
    body = {"title": "T", "consent": "C", "tasks": ["a", "b"], **fields}
    resp = await http.post("/api/studies", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 201
    return await resp.json()


@pytest.mark.asyncio
async def test_researcher_pages_need_the_login_cookie(http):
    study = await new_study(http)
    results_path = f"/studies/{study['id']}"
    for path in ("/studies", results_path):
        resp = await http.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next=")
    resp = await http.post("/login", data={"token": "wrong", "next": results_path}, allow_redirects=False)
    assert resp.status == 401 and "not a researcher token" in await resp.text()
    assert COOKIE not in resp.cookies
    resp = await http.get("/studies?token=wrong", allow_redirects=False)
    assert resp.status == 401 and COOKIE not in resp.cookies

    # an outside "next" is not followed
    resp = await http.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/studies"
    morsel = resp.cookies[COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel.value != TOKEN
    page = await http.get(results_path)  # the client keeps the cookie
    assert page.status == 200 and 'id="timeline"' in await page.text()
    assert (await http.get("/api/studies")).status == 200  # the page's API calls go with the cookie
    assert (await http.get("/studies/nope")).status == 404
    await http.post("/logout")
    assert (await http.get("/api/studies")).status == 401


@pytest.mark.asyncio
async def test_printed_researcher_url_logs_in_and_drops_the_token(http):
    resp = await http.get(f"/studies?token={TOKEN}", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/studies"
    page = await http.get("/studies")
    assert page.status == 200 and 'id="new-study"' in await page.text()


@pytest.mark.asyncio
async def test_participant_page_shows_the_study_escaped_and_unknown_links_say_so(http):
    study = await new_study(http, title="<script>alert(1)</script> Lamps", consent="You agree & <b>stuff</b>")
    page = await http.get("/p/" + study["participant_url"].rsplit("/", 1)[1])
    text = await page.text()
    assert page.status == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Lamps" in text and "<script>alert(1)" not in text
    assert "You agree &amp; &lt;b&gt;stuff&lt;/b&gt;" in text
    assert 'id="agree"' in text and text.count('class="start"') == 2
    resp = await http.get("/p/not-a-study")
    assert resp.status == 404 and "does not lead to a study" in await resp.text()
