"""Deployment switches (--features, FER_FEATURES; server/features.py): a part that is off is absent
from the page, and its routes and its own scripts answer 404; the defaults keep every part on."""

import json

import pytest

from server import Settings, create_app
from server.settings import FEATURES, parse_features

from test_server import StubAnalyzer, expect_error, open_ws, receive

TOKEN = "features-test-token-0123456789"


async def client(aiohttp_client, tmp_path, *features):
    settings = Settings(features=frozenset(features), database=f"sqlite:///{tmp_path / 'fer.db'}", admin_token=TOKEN)
    return await aiohttp_client(create_app(settings, analyzer=StubAnalyzer()))


def page_config(html: str) -> dict:
    return json.loads(html.split('<script id="config" type="application/json">')[1].split("</script>")[0])


def page_markup(html: str) -> str:
    """The page less its config (which names every part, on or off)."""
    return html.split('<script id="config"')[0] + html.split("</script>", 1)[1]


def test_flag_and_environment_variable():
    assert Settings().features == frozenset(FEATURES)  # the default: everything, as before
    assert Settings.from_args([], env={}).features == frozenset(FEATURES)
    assert Settings.from_args(["--features", "live"], env={}).features == {"live"}
    assert Settings.from_args([], env={"FER_FEATURES": "studies, uploads"}).features == {"studies", "uploads"}
    assert Settings.from_args(["--features", "live,classview"], env={"FER_FEATURES": "studies"}).features \
        == {"live", "classview"}  # the flag wins
    assert parse_features("all") == frozenset(FEATURES)


@pytest.mark.parametrize("text, says", [("live,camera", "unknown part camera"), ("classview", "switch on live too"),
                                        (" , ", "name at least one part")])
def test_bad_feature_lists_are_refused_with_a_clear_message(text, says, capsys):
    with pytest.raises(ValueError, match=says):
        parse_features(text)
    with pytest.raises(SystemExit):
        Settings.from_args(["--features", text], env={})
    assert says in capsys.readouterr().err
    with pytest.raises(ValueError):
        Settings(features=frozenset({"classview"}))


@pytest.mark.asyncio
async def test_everything_is_on_by_default(aiohttp_client, tmp_path):
    http = await client(aiohttp_client, tmp_path, *FEATURES)
    html = await (await http.get("/")).text()
    for part in ('id="start"', 'id="classview-toggle"', 'id="upload-section"', 'src="/static/classview.js"',
                 'src="/static/upload.js"', 'href="/responsible-use"'):
        assert part in html, part
    assert page_config(html)["features"] == {"live": True, "classview": True, "uploads": True, "studies": True}
    for path in ("/static/live.js", "/static/classview.js", "/static/upload.js", "/static/studies.js",
                 "/api/uploads/config", "/login", "/responsible-use"):
        assert (await http.get(path)).status == 200, path
    assert (await http.get("/healthz")).status == 200


@pytest.mark.asyncio
async def test_eu_school_profile_live_page_only(aiohttp_client, tmp_path):
    """--features live: the live page without the class view, uploads or studies."""
    http = await client(aiohttp_client, tmp_path, "live")
    resp = await http.get("/")
    html = await resp.text()
    assert resp.status == 200 and 'id="start"' in html and 'id="inferring"' in html
    markup = page_markup(html)
    for absent in ("classview", "upload-section", "upload.js", "Analyse a recording"):
        assert absent not in markup, absent
    assert page_config(html)["features"] == {"live": True, "classview": False, "uploads": False, "studies": False}
    for path in ("/static/classview.js", "/static/upload.js", "/static/studies.js", "/static/participant.js",
                 "/api/uploads/config", "/api/uploads/u-1", "/api/studies", "/studies", "/login", "/p/abc",
                 "/api/sessions/s1/recordings", "/api/researcher", "/api/studies/s1/export.zip",
                 "/api/studies/s1/sessions.csv", "/api/sessions/s1/markers.csv"):
        assert (await http.get(path)).status == 404, path
    assert (await http.post("/api/uploads", data=b"x")).status in (404, 405)
    assert (await http.post("/login", data={"token": TOKEN})).status in (404, 405)
    assert (await http.post("/logout")).status in (404, 405)
    assert (await http.patch("/api/studies/s1", json={"closed": True})).status in (404, 405)
    assert (await http.delete("/api/participant/abc/sessions/s1")).status in (404, 405)
    for path in ("/static/live.js", "/static/present.js", "/static/webrtc.js", "/static/style.css", "/responsible-use"):
        assert (await http.get(path)).status == 200, path
    assert (await http.get("/healthz")).status == 200 and (await (await http.get("/healthz")).json())["features"] == ["live"]
    ws = await open_ws(http)  # the live stream's socket is there
    await ws.send_json({"type": "ping", "t": 1})
    assert (await receive(ws))["type"] == "pong"
    await ws.close()


@pytest.mark.asyncio
async def test_research_lab_profile_without_the_class_view(aiohttp_client, tmp_path):
    http = await client(aiohttp_client, tmp_path, "live", "uploads", "studies")
    html = await (await http.get("/")).text()
    markup = page_markup(html)
    assert 'id="start"' in markup and 'id="upload-section"' in markup and "classview" not in markup
    assert (await http.get("/static/classview.js")).status == 404
    assert (await http.get("/login")).status == 200 and (await http.get("/api/uploads/config")).status == 200


@pytest.mark.asyncio
async def test_studies_only_no_live_page_and_plain_streams_refused(aiohttp_client, tmp_path):
    http = await client(aiohttp_client, tmp_path, "studies")
    resp = await http.get("/")
    assert resp.status == 404
    text = await resp.text()
    assert 'href="/studies"' in text and 'id="start"' not in text and 'href="/responsible-use"' in text
    for path in ("/static/live.js", "/static/classview.js", "/static/upload.js", "/api/uploads/config"):
        assert (await http.get(path)).status == 404, path
    for path in ("/static/participant.js", "/static/webrtc.js", "/static/results.js", "/login"):
        assert (await http.get(path)).status == 200, path
    # /ws stays for the participants, and refuses a plain live stream
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": "v=0"})
    await expect_error(ws, "live analysis is switched off")
    await ws.send_json({"type": "offer", "sdp": "v=0", "study": "no-such-study", "consent": True})
    reply = await receive(ws)
    assert reply["type"] == "error" and "switched off" not in reply["message"]  # a participant's offer is taken up
    await ws.close()
    # a study session's recordings are part of studies
    resp = await http.get("/api/sessions/s1/recordings", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 404 and "no such session" in (await resp.json())["error"]


@pytest.mark.asyncio
async def test_uploads_only(aiohttp_client, tmp_path):
    http = await client(aiohttp_client, tmp_path, "uploads")
    resp = await http.get("/")
    html = await resp.text()
    assert resp.status == 200 and 'id="upload-section"' in html and "recordings" in html.lower()
    for absent in ('id="start"', 'id="status-bar"', "live.js", "present.js", 'id="inferring"'):
        assert absent not in html, absent
    assert (await http.get("/ws")).status == 404
    assert (await http.get("/static/live.js")).status == 404
    assert (await http.get("/api/uploads/config")).status == 200


@pytest.mark.asyncio
async def test_the_responsible_use_page_renders_the_document(aiohttp_client, tmp_path):
    http = await client(aiohttp_client, tmp_path, "live")
    resp = await http.get("/responsible-use")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert "<h1>Responsible use</h1>" in html and "Article 5(1)(f)" in html and "Article 50(3)" in html
    assert "<table>" in html and "<script" not in html.split("<main")[1]
    assert 'href="../' not in html and ".md\"" not in html  # links into the repository are left as text


@pytest.mark.asyncio
async def test_a_first_researcher_token_is_made_only_with_the_studies_on(tmp_path):
    """Without --admin-token, a first start makes a researcher token and shows it once (issue 21); with the
    studies off it would never be shown, and the next start with them on would show none: none is made."""
    from aiohttp.test_utils import TestClient, TestServer

    from server import keys

    async def start(*features):
        settings = Settings(features=frozenset(features), database=f"sqlite:///{tmp_path / 'fer.db'}")
        http = TestClient(TestServer(create_app(settings, analyzer=StubAnalyzer())))
        await http.start_server()
        made = http.app[keys.STUDIES].made_token
        await http.close()
        return made

    assert await start("live") is None
    made = await start("live", "studies")
    assert made and len(made) >= 43  # made now, when it is shown
    assert await start("live", "studies") is None  # and kept
