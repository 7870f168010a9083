"""The live server under abuse: streams that never connect, too many sockets or offers from one
address, offers that would make the server send UDP where it should not, other sites' pages.

Real aiortc peer connections and real sockets against the app (aiohttp's test server on loopback).
"""

import asyncio
import fractions
import json
import re
import socket

import aiohttp
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.codecs import get_decoder as aiortc_get_decoder
from aiortc.mediastreams import VideoStreamTrack

from server import Settings, create_app, keys
from server.client import FrameTrack, LiveClient
from server.live import frame_size

from test_server import StubAnalyzer  # one fixed face: the model does not matter here
from test_webrtc_live import eventually


async def app_client(aiohttp_client, **settings):
    return await aiohttp_client(create_app(Settings(**settings), analyzer=StubAnalyzer()))


async def receive(ws, timeout=10):
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def open_ws(http, **kw):
    ws = await http.ws_connect("/ws", **kw)
    assert (await receive(ws))["type"] == "hello"
    return ws


async def next_of(ws, *types, timeout=10):
    while True:
        msg = await receive(ws, timeout)
        if msg["type"] in types:
            return msg


async def real_offer() -> tuple[RTCPeerConnection, str]:
    """A real aiortc offer (what a browser sends), gathered: it lists this machine's candidates."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(FrameTrack([np.zeros((48, 64, 3), "uint8")]))
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


def with_candidates(sdp: str, candidates: list[str]) -> str:
    """The offer with its candidate lines replaced by ``candidates`` ("ip port" or full candidate text)."""
    lines = [line for line in sdp.split("\r\n") if not line.startswith("a=candidate:")]
    at = next(i for i, line in enumerate(lines) if line.startswith("a=end-of-candidates") or line.startswith("a=ice-ufrag"))
    new = []
    for i, c in enumerate(candidates):
        if c.count(" ") == 1:
            ip, port = c.split()
            c = f"{i + 1} 1 udp 2130706431 {ip} {port} typ host"
        new.append(f"a=candidate:{c}")
    return "\r\n".join(lines[:at] + new + lines[at:])


# ---------- streams that never connect ----------


@pytest.mark.asyncio
async def test_offers_that_never_connect_free_their_slots_for_a_real_visitor(aiohttp_client, face_frame_640):
    """The lock-out: offers without ICE candidates on sockets kept open held every slot for minutes."""
    http = await app_client(aiohttp_client, max_streams=2, connect_timeout_s=1.5, max_pending_offers_per_client=8,
                            max_streams_per_client=2)
    app = http.server.app
    pcs, squatters = [], []
    for _ in range(2):
        pc, sdp = await real_offer()
        pcs.append(pc)
        ws = await open_ws(http)
        await ws.send_json({"type": "offer", "sdp": with_candidates(sdp, [])})  # cannot connect, never will
        assert (await next_of(ws, "answer", "error"))["type"] == "answer"
        squatters.append(ws)
    assert len(app[keys.LIVE_SESSIONS]) == 2
    visitor = LiveClient(await http.ws_connect("/ws"))
    with pytest.raises(RuntimeError, match="busy"):
        await visitor.start(FrameTrack([face_frame_640], fps=15))
    # the deadline passes: each squatter is told, and its slot is free again
    for ws in squatters:
        error = await next_of(ws, "error", timeout=10)
        assert "did not come up within 1.5 s" in error["message"]
    assert await eventually(lambda: not app[keys.LIVE_SESSIONS], 5)
    await visitor.pc.close()
    await visitor.start(FrameTrack([face_frame_640], fps=15))
    results = await visitor.wait_results(3, timeout=30)
    assert results[-1]["faces"][0]["label"] == "happy"
    await asyncio.sleep(2)  # past the deadline, a connected stream goes on
    n = len(visitor.results)
    await visitor.wait_results(n + 2, timeout=20)
    await visitor.close()
    for ws in squatters:
        await ws.close()
    for pc in pcs:
        await pc.close()


@pytest.mark.asyncio
async def test_one_address_may_have_only_a_few_streams_connecting(aiohttp_client):
    http = await app_client(aiohttp_client, max_pending_offers_per_client=2, connect_timeout_s=30)
    pcs, sockets = [], []
    for i in range(3):
        pc, sdp = await real_offer()
        pcs.append(pc)
        ws = await open_ws(http)
        sockets.append(ws)
        await ws.send_json({"type": "offer", "sdp": sdp})
        reply = await next_of(ws, "answer", "error")
        if i < 2:
            assert reply["type"] == "answer"
        else:
            assert reply["type"] == "error" and "still connecting" in reply["message"]
    assert len(http.server.app[keys.LIVE_SESSIONS]) == 2  # the other 6 slots stay for everyone else
    for ws in sockets:
        await ws.close()
    for pc in pcs:
        await pc.close()


@pytest.mark.asyncio
async def test_websockets_are_capped_per_address_and_overall(aiohttp_client):
    http = await app_client(aiohttp_client, max_websockets_per_client=3, max_websockets=100)
    open_ = [await open_ws(http) for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await http.ws_connect("/ws")
    assert e.value.status == 429
    await open_.pop().close()
    for _ in range(50):
        if len(http.server.app[keys.WEBSOCKETS]) < 3:
            break
        await asyncio.sleep(0.05)
    open_.append(await open_ws(http))  # a closed one frees its place
    for ws in open_:
        await ws.close()

    http = await app_client(aiohttp_client, max_websockets_per_client=10, max_websockets=2)
    a, b = await open_ws(http), await open_ws(http)
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await http.ws_connect("/ws")
    assert e.value.status == 503
    assert (await http.get("/healthz")).status == 200  # HTTP still answers
    await a.close()
    await b.close()


@pytest.mark.asyncio
async def test_a_failing_peer_connection_close_still_frees_the_slot(aiohttp_client):
    http = await app_client(aiohttp_client)
    app = http.server.app
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": sdp})
    assert (await next_of(ws, "answer"))["type"] == "answer"
    session = next(iter(app[keys.LIVE_SESSIONS]))
    real_close = session.pc.close

    async def failing_close():
        await real_close()
        raise RuntimeError("aiortc failed while closing")

    session.pc.close = failing_close
    await ws.send_json({"type": "stop"})
    assert (await next_of(ws, "stopped"))["type"] == "stopped"
    assert not app[keys.LIVE_SESSIONS]
    await ws.close()
    await pc.close()


# ---------- peers that connect and send nothing ----------


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (any of 127.0.0.0/8: another visitor on loopback)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


class SilentTrack(VideoStreamTrack):
    """A camera that never gives a frame: the peer connects (ICE, DTLS) and sends no video."""

    async def recv(self):
        await asyncio.Future()


class StoppingTrack(FrameTrack):
    """Frames for ``frames`` frames, then none (the connection stays up)."""

    def __init__(self, frames, fps, stop_after):
        super().__init__(frames, fps)
        self.stop_after = stop_after

    async def recv(self):
        if self._index >= self.stop_after:
            await asyncio.Future()
        return await super().recv()


async def health(http) -> dict:
    return await (await http.get("/healthz")).json()


@pytest.mark.asyncio
async def test_silent_peers_from_one_address_cannot_lock_out_a_visitor(aiohttp_client, face_frame_640):
    """Eight peers from one address that connect and never send a frame took all 8 slots: a visitor got
    "busy" at once and 60 s later. Now one address gets half the slots, and a silent one is closed."""
    # (8 s: longer than 8 peers take to connect one after the other, on a busy machine too)
    http = await app_client(aiohttp_client, first_frame_timeout_s=8, frame_timeout_s=8)
    app = http.server.app
    silent, refused = [], []
    for _ in range(8):
        peer = LiveClient(await http.ws_connect("/ws"))
        try:
            await peer.start(SilentTrack())
            silent.append(peer)
            # as an attacker would: each connected (ICE and DTLS up) before the next
            assert await eventually(lambda: any(m.get("state") == "connected" for m in peer.messages), 15)
        except RuntimeError as e:
            refused.append(str(e))
            await peer.close()
    assert len(silent) == 4 and len(refused) == 4, refused
    assert "your address has 4 live streams already" in refused[0]
    async with from_address("127.0.0.2") as other:
        visitor = LiveClient(await other.ws_connect(http.make_url("/ws")))
        await visitor.start(FrameTrack([face_frame_640], fps=15))  # a free slot at once
        await visitor.wait_results(3, timeout=30)
        assert (await health(http))["live_streams"] == 5
        for peer in silent:  # the silent ones are told and closed
            error = await next_error(peer, timeout=20)
            assert "no video frame came within 8 s of the connection" in error
        assert await eventually(lambda: len(app[keys.LIVE_SESSIONS]) == 1, 10)
        assert (await health(http))["live_streams"] == 1
        n = len(visitor.results)
        await visitor.wait_results(n + 5, timeout=20)  # the visitor streams on
        await visitor.close()
    for peer in silent:
        await peer.close()


async def next_error(client: LiveClient, timeout: float) -> str:
    async def wait():
        while True:
            errors = [m for m in client.messages if m["type"] == "error"]
            if errors:
                return errors[-1]["message"]
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), timeout)


@pytest.mark.asyncio
async def test_a_stream_whose_frames_stop_is_closed_and_its_slot_freed(aiohttp_client, face_frame_640):
    http = await app_client(aiohttp_client, first_frame_timeout_s=5, frame_timeout_s=2)
    app = http.server.app
    peer = LiveClient(await http.ws_connect("/ws"))
    await peer.start(StoppingTrack([face_frame_640], fps=15, stop_after=20))
    await peer.wait_results(3, timeout=30)
    error = await next_error(peer, timeout=15)
    assert "no video frame came for 2 s; the stream was closed" in error
    assert await eventually(lambda: not app[keys.LIVE_SESSIONS], 5)
    await peer.close()


# ---------- pictures larger than the server takes ----------


@pytest.mark.asyncio
@pytest.mark.parametrize("codec", [None, "video/H264"])  # VP8 (browsers' first choice) and H.264
async def test_a_picture_over_the_size_limit_is_not_decoded_and_ends_the_stream(aiohttp_client, face_frame_640,
                                                                                codec, monkeypatch):
    decoded = []  # the size of every picture aiortc's own decoders give out

    def spied(codec_parameters):
        decoder = aiortc_get_decoder(codec_parameters)
        real = decoder.decode
        decoder.decode = lambda f: [decoded.append((x.width, x.height)) or x for x in real(f)]
        return decoder

    monkeypatch.setattr(frame_size, "aiortc_get_decoder", spied)
    http = await app_client(aiohttp_client, max_frame_pixels=320 * 240)
    app = http.server.app
    try:
        peer = LiveClient(await http.ws_connect("/ws"))
        await peer.start(FrameTrack([face_frame_640], fps=15), codec=codec)
        error = await next_error(peer, timeout=30)
        assert "the camera's picture is 640x480 pixels; this server takes at most 0.1 megapixels" in error
        assert not peer.results  # nothing of it was analysed
        assert (640, 480) not in decoded  # nor decoded
        assert await eventually(lambda: not app[keys.LIVE_SESSIONS], 5)
        await peer.close()
        small = LiveClient(await http.ws_connect("/ws"))  # a picture within the limit streams as ever
        await small.start(FrameTrack([face_frame_640[::2, ::2].copy()], fps=15), codec=codec)
        results = await small.wait_results(3, timeout=30)
        assert (results[-1]["width"], results[-1]["height"]) == (320, 240)
        assert (320, 240) in decoded  # (the spy sees what is decoded)
        await small.close()
    finally:
        frame_size.install()  # the default limit for the other tests (the gate is process-wide)


def test_the_vp8_header_gives_a_key_frames_size_and_nothing_for_inter_frames():
    from aiortc.codecs.vpx import Vp8Encoder
    from av import VideoFrame

    encoder = Vp8Encoder()
    frame = VideoFrame.from_ndarray(np.zeros((360, 640, 3), np.uint8), format="bgr24")
    sizes = []
    for i in range(3):
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, _ = encoder.encode(frame, force_keyframe=(i == 0))
        from aiortc.codecs.vpx import vp8_depayload

        sizes.append(frame_size.vp8_key_frame_size(b"".join(vp8_depayload(p) for p in payloads)))
    assert sizes == [(640, 360), None, None]


# ---------- offers that would send UDP where they should not ----------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "candidates, settings, reason",
    [
        ([f"127.0.0.1 {20000 + i}" for i in range(40)], {}, "40 ICE candidates; at most 16"),
        (["0.0.0.0 40000"], {}, "unspecified, multicast, broadcast or reserved"),
        (["224.0.0.251 40000"], {}, "unspecified, multicast, broadcast or reserved"),
        (["255.255.255.255 40000"], {}, "unspecified, multicast, broadcast or reserved"),
        (["240.0.0.1 40000"], {}, "unspecified, multicast, broadcast or reserved"),
        (["ff02::1 40000"], {}, "unspecified, multicast, broadcast or reserved"),
        (["victim.example 40000"], {}, "an IP address or an mDNS .local name"),
        (["192.0.2.7 53"], {}, "port 53 refused"),
        (["127.0.0.1 40000"], {"host": "0.0.0.0"}, "loopback addresses are not allowed"),
        (["10.1.2.3 40000"], {"ice_allow": ("public",)}, "private addresses are not allowed"),
        (["a1b2.local 40000"], {"ice_allow": ("public",)}, "mDNS"),
        # link-local (the cloud metadata range) and mDNS names: only when --ice-allow names them
        (["169.254.169.254 40000"], {}, "link-local addresses are not allowed by this server (--ice-allow link-local)"),
        (["fe80::1 40000"], {}, "link-local addresses are not allowed"),
        (["a1b2.local 40000"], {}, "mDNS (.local) candidates are not allowed here (--ice-allow mdns)"),
    ],
)
async def test_abusive_offers_are_refused_with_a_clear_error(aiohttp_client, candidates, settings, reason):
    http = await app_client(aiohttp_client, **settings)
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": with_candidates(sdp, candidates)})
    reply = await next_of(ws, "answer", "error")
    assert reply["type"] == "error" and reason in reply["message"], reply
    assert not http.server.app[keys.LIVE_SESSIONS]
    await ws.send_json({"type": "ping", "t": 1})
    assert (await next_of(ws, "pong"))["t"] == 1  # the socket stays usable
    await ws.close()
    await pc.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("candidate, allow", [("169.254.10.20 40000", "link-local"), ("a1b2.local 40000", "mdns")])
async def test_link_local_and_mdns_candidates_are_taken_when_allowed(aiohttp_client, candidate, allow):
    http = await app_client(aiohttp_client, ice_allow=("public", "private", allow), connect_timeout_s=2)
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    await ws.send_json({"type": "offer", "sdp": with_candidates(sdp, [candidate])})
    assert (await next_of(ws, "answer", "error"))["type"] == "answer"
    await ws.close()
    await pc.close()


@pytest.mark.asyncio
async def test_allowed_networks_and_tcp_candidates_are_taken(aiohttp_client):
    http = await app_client(aiohttp_client, ice_allow=("public", "10.0.0.0/8"))
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    offer = with_candidates(sdp, ["10.1.2.3 40000", "2 1 tcp 1518280447 10.1.2.3 9 typ host tcptype active"])
    await ws.send_json({"type": "offer", "sdp": offer})
    assert (await next_of(ws, "answer", "error"))["type"] == "answer"
    await ws.close()
    await pc.close()


@pytest.mark.asyncio
async def test_offer_without_a_dtls_fingerprint_is_refused(aiohttp_client):
    http = await app_client(aiohttp_client)
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    stripped = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=fingerprint:"))
    await ws.send_json({"type": "offer", "sdp": stripped})
    reply = await next_of(ws, "answer", "error")
    assert reply["type"] == "error" and "no DTLS fingerprint" in reply["message"]
    assert not http.server.app[keys.LIVE_SESSIONS]
    await ws.close()
    await pc.close()


def udp_listener() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


async def packets_within(s: socket.socket, seconds: float) -> int:
    n, loop = 0, asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            s.recv(2048)
            n += 1
        except BlockingIOError:
            await asyncio.sleep(0.05)
    return n


@pytest.mark.asyncio
async def test_a_refused_offer_sends_no_udp_and_an_accepted_one_does(aiohttp_client):
    """The UDP cannon: an offer naming 400 ports made the server send 2,800 STUN packets. A refused
    offer must send none; the control shows the listener would have seen them."""
    http = await app_client(aiohttp_client, max_ice_candidates=4, connect_timeout_s=3)
    target = udp_listener()
    port = target.getsockname()[1]
    pc, sdp = await real_offer()
    ws = await open_ws(http)
    flood = with_candidates(sdp, [f"127.0.0.1 {port}"] + [f"127.0.0.1 {port + 1 + i}" for i in range(8)])
    await ws.send_json({"type": "offer", "sdp": flood})
    assert (await next_of(ws, "answer", "error"))["type"] == "error"
    assert await packets_within(target, 2.0) == 0
    # control: the same target as the one candidate of an accepted offer gets STUN checks
    await ws.send_json({"type": "offer", "sdp": with_candidates(sdp, [f"127.0.0.1 {port}"])})
    assert (await next_of(ws, "answer", "error"))["type"] == "answer"
    assert await packets_within(target, 2.5) > 0
    await ws.close()
    await pc.close()
    target.close()


# ---------- other sites' pages ----------


@pytest.mark.asyncio
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1.evil.example", "file://"])
async def test_websocket_from_another_origin_is_refused(aiohttp_client, origin):
    http = await app_client(aiohttp_client)
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await http.ws_connect("/ws", origin=origin)
    assert e.value.status == 403
    assert not http.server.app[keys.CONNECTIONS]


@pytest.mark.asyncio
async def test_websocket_from_the_own_or_an_allowed_origin_connects(aiohttp_client):
    http = await app_client(aiohttp_client, allowed_origins=("https://fer.example.org",))
    own = f"http://{http.host}:{http.port}"
    for origin in (own, "https://fer.example.org", "HTTPS://FER.example.org:443"):
        ws = await open_ws(http, origin=origin)
        await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect("/ws", origin="https://fer.example.org:8443")  # another port: another origin


@pytest.mark.asyncio
async def test_state_changing_requests_from_another_origin_are_refused(aiohttp_client, tmp_path):
    from server import UploadSettings

    http = await aiohttp_client(create_app(
        Settings(uploads=UploadSettings(directory=tmp_path / "up")), analyzer=StubAnalyzer()))
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG not really", filename="x.png")
    resp = await http.post("/api/uploads", data=form, headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and "other sites" in (await resp.json())["error"]
    resp = await http.delete("/api/uploads/abc", headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert not any((tmp_path / "up").glob("u-*"))  # nothing received (the folder holds only its .store id)
    # reading needs no Origin check: a GET changes nothing
    assert (await http.get("/api/uploads/config", headers={"Origin": "https://evil.example"})).status == 200
    resp = await http.delete("/api/uploads/abc", headers={"Origin": f"http://{http.host}:{http.port}"})
    assert resp.status == 404  # own origin: through to the handler


def test_settings_parse_origins_and_ice_allow():
    s = Settings.from_args(["--allowed-origin", "https://a.example", "--ice-allow", "public",
                            "--ice-allow", "10.0.0.0/8", "--log-level", "debug"], env={})
    assert s.allowed_origins == ("https://a.example",) and s.ice_allow == ("public", "10.0.0.0/8")
    assert s.log_level == "debug"
    assert Settings(host="127.0.0.1").ice_allow == ("public", "private", "loopback")
    assert Settings.from_args(["--ice-allow", "link-local", "--ice-allow", "mdns"], env={}).ice_allow == (
        "link-local", "mdns")
    s = Settings.from_args(["--max-streams", "10", "--frame-timeout", "4"], env={})
    assert s.streams_per_client == 5 and s.first_frame_timeout_s == s.frame_timeout_s == 4
    assert Settings.from_args(["--max-streams-per-client", "9"], env={}).streams_per_client == 9
    uploads = Settings.from_args([], env={"FER_UPLOAD_MAX_FRAMES": "500", "FER_UPLOAD_MAX_FPS": "60"}).uploads
    assert (uploads.max_frames, uploads.max_fps) == (500, 60.0)
    with pytest.raises(SystemExit):
        Settings.from_args(["--max-streams-per-client", "0"], env={})
    assert Settings(host="0.0.0.0").ice_allow == ("public", "private")
    for bad in (["--allowed-origin", "evil"], ["--ice-allow", "everything"]):
        with pytest.raises(SystemExit):
            Settings.from_args(bad, env={})
    assert re.match(r"https://b\.example", Settings.from_args([], env={"FER_ALLOWED_ORIGINS": "https://b.example"})
                    .allowed_origins[0])
