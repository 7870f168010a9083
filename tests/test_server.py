"""The web app's HTTP routes and its /ws protocol, bad input included (aiohttp's test client)."""

import json
import subprocess
import sys

import pytest
import pytest_asyncio
from aiohttp import WSMsgType
from aiortc import RTCConfiguration, RTCPeerConnection

import ml
from ml.schema import COLUMNS
from server import Settings, create_app, keys
from server.client import FrameTrack
from server.live.protocol import HARD_MESSAGE_LIMIT, MESSAGE_LIMIT


class StubAnalyzer:
    """Stands in for ml.FrameAnalyzer where the model does not matter: one fixed face."""

    class classifier:
        name = "stub"

    def analyze(self, bgr, tracker=None, t=None):
        probs = {c: 0.01 for c in ml.CLASSES}
        probs["happy"] = 0.94
        faces = [{"box": (10, 20, 30, 30), "label": "happy", "probs": probs}]
        return tracker.update(faces, t) if tracker is not None else faces


@pytest_asyncio.fixture
async def http(aiohttp_client):
    return await aiohttp_client(create_app(analyzer=StubAnalyzer()))


async def receive(ws, timeout=10):
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def open_ws(http):
    ws = await http.ws_connect("/ws")
    hello = await receive(ws)
    assert hello["type"] == "hello"
    return ws


async def expect_error(ws, containing):
    reply = await receive(ws)
    assert reply["type"] == "error", reply
    assert containing in reply["message"], reply["message"]
    return reply["message"]


async def still_usable(ws):
    await ws.send_json({"type": "ping", "t": 42})
    assert await receive(ws) == {"type": "pong", "t": 42}


async def browser_like_offer(kind="video"):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if kind == "video":
        pc.addTrack(FrameTrack([__import__("numpy").zeros((48, 64, 3), "uint8")]))
    elif kind == "recvonly":
        pc.addTransceiver("video", direction="recvonly")
    else:
        pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc


# ---------- HTTP ----------


@pytest.mark.asyncio
async def test_page_has_camera_controls_overlay_chart_and_emoji(http):
    resp = await http.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    for element in ('id="start"', 'id="stop"', 'id="video"', 'id="overlay"', 'id="chart"', 'id="current-label"',
                    'id="conn-state"', 'id="fps"', 'id="latency"', 'id="download-csv"', 'id="download-json"',
                    '<section id="upload-section"></section>'):
        assert element in html, element
    for cls in ml.CLASSES:
        assert ml.EMOJI[cls] in html
    config = json.loads(html.split('<script id="config" type="application/json">')[1].split("</script>")[0])
    assert config["classes"] == list(ml.CLASSES) and config["emoji"] == ml.EMOJI
    assert config["model"] == "stub"
    assert "https://" not in html and "http://" not in html  # nothing loaded from outside


@pytest.mark.asyncio
async def test_page_has_the_upload_section_and_the_one_csv_schema(http):
    text = await (await http.get("/")).text()
    assert '<script src="/static/upload.js"></script>' in text and 'id="upload-section"' in text
    config = json.loads(text.split('<script id="config" type="application/json">')[1].split("</script>")[0])
    assert config["columns"] == list(COLUMNS)  # the page's CSV export takes its columns from here
    assert config["columns"][:3] == ["frame", "time_s", "utc"] and "confidence" in config["columns"]
    assert (await http.get("/api/uploads/config")).status == 200


@pytest.mark.asyncio
async def test_assets_are_served_and_nothing_outside_static(http):
    page = await (await http.get("/")).text()
    scripts = ("live.js", "chart.js", "shares.js", "present.js", "classview.js", "upload.js")
    for name, kind in [(s, "javascript") for s in scripts] + [("style.css", "text/css")]:
        resp = await http.get(f"/static/{name}")
        assert resp.status == 200, name
        assert kind in resp.content_type
        assert f'src="/static/{name}"' in page or kind == "text/css", name  # and the page loads it
    font = await http.get("/static/fonts/fer-emoji.ttf")  # the class emoji in colour (static/fonts/README.md)
    assert font.status == 200 and (await font.read())[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    assert (await http.get("/static/../server/app.py")).status in (403, 404)
    assert (await http.get("/static/%2e%2e/server/app.py")).status in (403, 404)
    assert (await http.get("/no-such-page")).status == 404


@pytest.mark.asyncio
async def test_health_check_reports_model_and_streams(http):
    resp = await http.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "database": "ok", "model": "stub", "live_streams": 0,
                                 "max_streams": 8,
                                 "features": ["classview", "live", "studies", "uploads"]}


# ---------- WebSocket protocol ----------


@pytest.mark.asyncio
async def test_plain_http_on_the_websocket_route_is_a_bad_request(http):
    resp = await http.get("/ws")
    assert resp.status == 400
    assert (await http.get("/healthz")).status == 200


@pytest.mark.asyncio
async def test_hello_and_ping(http):
    ws = await http.ws_connect("/ws")
    hello = await receive(ws)
    assert hello == {
        "type": "hello", "classes": list(ml.CLASSES), "emoji": ml.EMOJI, "model": "stub", "columns": list(COLUMNS)
    }
    await still_usable(ws)
    await ws.send_json({"type": "stop"})
    assert await receive(ws) == {"type": "stopped"}
    await ws.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text, containing",
    [
        ("{not json", "invalid JSON"),
        ("", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('"offer"', "JSON object"),
        ("{}", '"type"'),
        ('{"type": 3}', '"type"'),
        ('{"type": "hack"}', "unknown message type 'hack'"),
        ('{"type": "offer"}', "SDP"),
        ('{"type": "offer", "sdp": 12}', "SDP"),
        ('{"type": "offer", "sdp": "   "}', "SDP"),
        ('{"type": "offer", "sdp": "hello"}', "malformed SDP"),
        ('{"type": "offer", "sdp": "v=0\\r\\nm=video notaport UDP/TLS/RTP/SAVPF 96\\r\\n"}', "malformed SDP"),
        ('{"type": "offer", "sdp": "v=0\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 96\\r\\na=rtpmap:96 VP8/90000\\r\\n"}',
         "no DTLS fingerprint"),
        ('{"type": "offer", "sdp": "v=0\\r\\nthis is not sdp\\r\\n"}', "no video"),
        ('{"type": "offer", "sdp": "v=0\\r\\no=- 1 1 IN IP4 0.0.0.0\\r\\ns=-\\r\\nt=0 0\\r\\n"}', "no video"),
    ],
)
async def test_bad_messages_get_a_clear_error_and_the_socket_stays_usable(http, text, containing):
    ws = await open_ws(http)
    await ws.send_str(text)
    await expect_error(ws, containing)
    await still_usable(ws)
    assert not http.server.app[keys.LIVE_SESSIONS]  # nothing half-open left behind
    await ws.close()


@pytest.mark.asyncio
async def test_binary_and_oversized_messages(http):
    ws = await open_ws(http)
    await ws.send_bytes(b"\x00\x01")
    await expect_error(ws, "binary")
    await ws.send_str(json.dumps({"type": "offer", "sdp": "v=0" + "x" * MESSAGE_LIMIT}))
    await expect_error(ws, "too large")
    await still_usable(ws)
    # past the hard limit the server does not even read it: a clean close with 1009 (message too big)
    await ws.send_str("x" * (HARD_MESSAGE_LIMIT + 10))
    msg = await ws.receive(timeout=10)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 1009
    # the server stays up for everyone else
    assert (await http.get("/healthz")).status == 200
    other = await open_ws(http)
    await still_usable(other)
    await other.close()
    assert not http.server.app[keys.CONNECTIONS] or all(not c.ws.closed for c in http.server.app[keys.CONNECTIONS])


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["audio", "recvonly"])
async def test_offer_without_video_is_refused(http, kind):
    pc = await browser_like_offer(kind=kind)
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})
    await expect_error(ws, "no video")
    assert not http.server.app[keys.LIVE_SESSIONS]
    await pc.close()
    await ws.close()


@pytest.mark.asyncio
async def test_offer_gets_an_answer_then_stop_closes_the_session(http):
    pc = await browser_like_offer()
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})
    answer = await receive(ws)
    assert answer["type"] == "answer" and answer["sdp"].startswith("v=0") and "m=video" in answer["sdp"]
    sessions = http.server.app[keys.LIVE_SESSIONS]
    assert len(sessions) == 1
    session = next(iter(sessions))
    await ws.send_json({"type": "stop"})
    while (reply := await receive(ws))["type"] != "stopped":
        assert reply["type"] == "state"
    assert not sessions and session.pc.connectionState == "closed"
    await pc.close()
    await ws.close()


@pytest.mark.asyncio
async def test_streams_beyond_the_limit_are_refused(aiohttp_client):
    http = await aiohttp_client(create_app(Settings(max_streams=1), analyzer=StubAnalyzer()))
    first, second = await open_ws(http), await open_ws(http)
    pcs = [await browser_like_offer(), await browser_like_offer()]
    await first.send_json({"type": "offer", "sdp": pcs[0].localDescription.sdp})
    assert (await receive(first))["type"] == "answer"
    await second.send_json({"type": "offer", "sdp": pcs[1].localDescription.sdp})
    await expect_error(second, "busy")
    await first.close()
    for pc in pcs:
        await pc.close()
    await second.close()


@pytest.mark.asyncio
async def test_closing_the_app_closes_every_socket_and_session(aiohttp_client):
    http = await aiohttp_client(create_app(analyzer=StubAnalyzer()))
    app = http.server.app
    pc = await browser_like_offer()
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})
    assert (await receive(ws))["type"] == "answer"
    session = next(iter(app[keys.LIVE_SESSIONS]))
    await http.server.close()
    assert not app[keys.LIVE_SESSIONS] and not app[keys.CONNECTIONS]
    assert session.pc.connectionState == "closed"
    await pc.close()


# ---------- command line ----------


def test_cli_refuses_a_missing_model_and_half_tls_settings():
    run = [sys.executable, "-m", "server", "--port", "0"]
    res = subprocess.run(run + ["--model", "no-such-model"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "no model named 'no-such-model'" in res.stderr
    res = subprocess.run(run + ["--cert", "cert.pem"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--cert and --key go together" in res.stderr
    res = subprocess.run(run + ["--cert", "/nonexistent.pem", "--key", "/nonexistent.key"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "cannot load --cert/--key" in res.stderr


def test_cli_serves_the_page_over_https(tmp_path):
    """python -m server --cert --key: the page over TLS (browsers allow cameras only on https or localhost)."""
    import shutil
    import socket
    import ssl
    import time
    import urllib.request

    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "server", "--port", str(port), "--cert", str(cert), "--key", str(key),
                             "--database", f"sqlite:///{tmp_path / 'fer.db'}"],  # not the checkout's ./data
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"https://localhost:{port}/", context=context, timeout=5) as resp:
                    html = resp.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.time() < deadline, "the HTTPS server did not come up"
                time.sleep(0.5)
        assert 'id="start"' in html and "wss" in (
            urllib.request.urlopen(f"https://localhost:{port}/static/live.js", context=context).read().decode()
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"Serving on https://localhost:{port}/" in out
