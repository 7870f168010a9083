"""Bad text from clients, on both databases: deeply nested JSON, lone surrogates and NUL get a clear 400
(or an ``error`` message on a socket that stays open), never a 500, a closed socket, or a stored value that
breaks the pages afterwards."""

import json

import aiohttp
import pytest

from server import strict_text
from server.client import ObserverClient

from db_support import database_url, postgres_server  # noqa: F401  (fixtures)
from test_studies import AUTH, STUDY, create_study, participant_token, server  # noqa: F401  (fixture)

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError, not ValueError


async def raw_post(client, path, body: str):
    return await client.post(path, data=body.encode("utf-8", "surrogatepass"),
                             headers={**AUTH, "Content-Type": "application/json"})


@pytest.mark.asyncio
@pytest.mark.parametrize("body, expected", [
    ('{"title": ' + DEEP + "}", "nests 100001 levels deep; at most 32"),
    (json.dumps({**STUDY, "title": "Lamp"})[:-1] + ', "tasks": ["Pay", "\\ud800 here"]}', "lone surrogate"),
    ('{"title": "A\\udfff", "consent": "ok", "tasks": ["one"]}', "lone surrogate"),
    ('{"title": "A\\u0000B", "consent": "ok", "tasks": ["one"]}', "NUL character"),
    ('{"title": "A", "consent": "ok", "tasks": ["one"], "\\u0000": 1}', "NUL character"),
])
async def test_bad_text_in_a_new_study_is_a_400_and_nothing_is_stored(server, body, expected):
    client = server.client
    resp = await raw_post(client, "/api/studies", body)
    assert resp.status == 400, await resp.text()
    assert expected in (await resp.json())["error"]
    studies = await (await client.get("/api/studies", headers=AUTH)).json()
    assert studies == []  # nothing stored, so nothing to break the pages and CSVs later
    assert (await client.get("/studies", headers=AUTH)).status in (200, 303)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/p/a%00b", "/studies/a%00b", "/api/studies/x%00", "/login?next=%00",
                                  "/api/participant/a%00b/sessions/c"])
async def test_nul_in_a_path_or_query_is_a_400(server, path):
    method = "DELETE" if path.startswith("/api/participant") else "GET"
    resp = await server.client.request(method, path, headers=AUTH)
    assert resp.status == 400
    assert "NUL character" in (await resp.json())["error"]
    assert (await server.client.get("/healthz")).status == 200


async def receive(ws):
    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def next_of(ws, *types):
    while True:
        msg = await receive(ws)
        if msg["type"] in types:
            return msg


@pytest.mark.asyncio
async def test_bad_text_on_the_websocket_gets_an_error_and_the_socket_stays_open(server):
    study = await create_study(server.client)
    ws = await server.client.ws_connect("/ws")
    assert (await receive(ws))["type"] == "hello"
    sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"
    for text, expected in [
        (DEEP[:60_000], "nests 60000 levels deep"),
        ('{"type": "offer", "sdp": "' + sdp.replace("\r\n", "\\r\\n") + '", "consent": true, "study": "'
         + participant_token(study)[:5] + '\\u0000x"}', "NUL character"),
        ('{"type": "offer", "sdp": "v=0\\ud800", "consent": true}', "lone surrogate"),
    ]:
        await ws.send_str(text)
        reply = await next_of(ws, "error", "session", "answer")
        assert reply["type"] == "error" and expected in reply["message"], reply
    await ws.send_json({"type": "ping", "t": 7})
    assert (await next_of(ws, "pong"))["t"] == 7
    await ws.close()


@pytest.mark.asyncio
async def test_bad_text_in_a_note_gets_an_error_and_the_live_view_stays_open(server):
    study = await create_study(server.client)
    ws = await server.client.ws_connect(f"/api/studies/{study['id']}/live", headers=AUTH)
    observer = ObserverClient(ws)
    await observer.snapshot()
    for n, text in enumerate(['{"type": "note", "session": "s", "text": "a\\ud83d"}', DEEP[:50_000],
                              '{"type": "note", "session": "s\\u0000", "text": "a"}']):
        await ws.send_str(text)
        message = await observer.wait_error(n)
        assert "lone surrogate" in message or "levels deep" in message or "NUL" in message, message
    assert not observer._reader.done()  # still open
    await observer.close()


def test_loads_counts_depth_outside_strings_and_walks_without_recursion():
    assert strict_text.depth('[["[[[[", {"a": [1]}]]') == 4
    assert strict_text.loads('{"a": ["\\"]]]]", 1]}') == {"a": ['"]]]]', 1]}
    with pytest.raises(strict_text.TextError) as e:
        strict_text.loads(b"x" * 20, max_bytes=10)
    assert e.value.status == 413
    with pytest.raises(strict_text.TextError, match="UTF-8"):
        strict_text.loads(b'"\xff"')
    wide = "[" + ",".join(['{"k": "v"}'] * 50_000) + "]"  # wide, not deep: fine
    assert len(strict_text.loads(wide)) == 50_000
