"""A Python WebRTC client (aiortc) streams a real face to the server and reads the results back."""

import asyncio
import weakref

import numpy as np
import pytest
import pytest_asyncio

from server import create_app, keys
from server.client import FrameTrack, LiveClient

# the astronaut's face in the 512x512 photo (x0, y0, x1, y1), mapped into face_frame_640:
# the frame holds the photo's [0:400, 60:400] crop at (150, 40)
FACE_IN_FRAME = (174 - 60 + 150, 64 + 40, 271 - 60 + 150, 161 + 40)


def overlap(box, ref) -> float:
    """Intersection over union of an (x, y, w, h) box and an (x0, y0, x1, y1) box."""
    x, y, w, h = box
    ix = max(0, min(x + w, ref[2]) - max(x, ref[0]))
    iy = max(0, min(y + h, ref[3]) - max(y, ref[1]))
    inter = ix * iy
    return inter / (w * h + (ref[2] - ref[0]) * (ref[3] - ref[1]) - inter)


@pytest_asyncio.fixture
async def live_server(aiohttp_client, analyzer):
    app = create_app(analyzer=analyzer)
    client = await aiohttp_client(app)
    yield client


@pytest.mark.asyncio
async def test_streamed_face_is_boxed_and_labelled_happy(live_server, face_frame_640):
    ws = await live_server.ws_connect("/ws")
    client = LiveClient(ws)
    track = FrameTrack([face_frame_640], fps=15)
    await client.start(track)
    results = await client.wait_results(8, timeout=40)
    app = live_server.server.app
    assert len(app[keys.LIVE_SESSIONS]) == 1
    await client.close()

    with_faces = [r for r in results if r["faces"]]
    assert len(with_faces) >= len(results) - 2, "the face must be found in (nearly) every frame"
    last = with_faces[-1]
    assert (last["width"], last["height"]) == (640, 480)
    face = last["faces"][0]
    assert overlap(face["box"], FACE_IN_FRAME) > 0.6, face["box"]
    assert face["label"] == "happy"
    assert max(face["probs"], key=face["probs"].get) == "happy"
    assert abs(sum(face["probs"].values()) - 1) < 0.01
    # one face, one stable id over the whole stream; each result says whether it was found in that frame
    assert {f["id"] for r in with_faces for f in r["faces"]} == {face["id"]}
    assert all(f["source"] == ("held" if f["held"] else "detected") for r in with_faces for f in r["faces"])
    # timestamps are the stream's own clock: increasing, and processing times are reported
    stamps = [r["timestamp"] for r in results]
    assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
    assert all(r["processing_ms"] > 0 and r["latency_ms"] >= r["processing_ms"] for r in results)
    # a result's timestamp is the pts of a frame the client sent
    sent = [track.sent_at(r["timestamp"]) for r in results]
    assert None not in sent
    assert all(0 < arrived - at < 5 for arrived, at in zip(client.arrivals, sent))

    # the browser left: its peer connection is closed and its session is gone
    for _ in range(50):
        if not app[keys.LIVE_SESSIONS]:
            break
        await asyncio.sleep(0.1)
    assert not app[keys.LIVE_SESSIONS]


class SlowAnalyzer:
    """The real analyser made slower than a 30 fps camera (150 ms a frame)."""

    def __init__(self, analyzer, delay=0.15):
        self.analyzer, self.delay = analyzer, delay
        self.classifier = analyzer.classifier

    def analyze(self, bgr, tracker=None, t=None):
        import time

        time.sleep(self.delay)
        return self.analyzer.analyze(bgr, tracker, t)


@pytest.mark.asyncio
async def test_slow_processing_drops_stale_frames_and_latency_stays_flat(aiohttp_client, analyzer, face_frame_640):
    http = await aiohttp_client(create_app(analyzer=SlowAnalyzer(analyzer)))
    client = LiveClient(await http.ws_connect("/ws"))
    track = FrameTrack([face_frame_640], fps=30)
    await client.start(track)
    results = await client.wait_results(24, timeout=60)
    await client.close()
    # end-to-end: from the client handing a frame to WebRTC until its result arrived
    e2e = [arrived - track.sent_at(r["timestamp"]) for r, arrived in zip(results, client.arrivals)]
    early, late = sorted(e2e[4:10])[3], sorted(e2e[-6:])[3]
    assert late < early + 0.15, f"latency grew from {early:.3f} s to {late:.3f} s"
    assert max(e2e[4:]) < 0.6
    # ~30 frames a second came in, ~6 a second could be analysed: the others were dropped
    last = results[-1]
    assert last["frames_dropped"] > last["frames_processed"]
    assert last["frames_received"] >= last["frames_processed"] + last["frames_dropped"] - 1
    labels = [r["faces"][0]["label"] for r in results if r["faces"]]
    assert len(labels) >= 0.7 * len(results) and labels[-5:] == ["happy"] * 5


async def _until(condition, timeout):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_a_stream_the_server_cannot_keep_up_with_is_paced_down_then_up_again(aiohttp_client, analyzer,
                                                                                    face_frame_640):
    slow = SlowAnalyzer(analyzer, delay=0.1)  # about 8 frames a second of a 30 fps camera
    http = await aiohttp_client(create_app(analyzer=slow))
    client = LiveClient(await http.ws_connect("/ws"))
    track = FrameTrack([face_frame_640], fps=30)
    await client.start(track)
    paces = lambda: [m["max_fps"] for m in client.messages if m["type"] == "pace"]  # noqa: E731
    await _until(lambda: paces(), 15)
    asked = paces()[0]
    assert 10 <= asked <= 15 and track.fps == asked  # about 1.25 times the rate analysed
    await client.wait_results(len(client.results) + 2, timeout=10)
    first = client.results[-1]
    await asyncio.sleep(3)
    last = client.results[-1]
    received = (last["frames_received"] - first["frames_received"]) / (last["server_time"] - first["server_time"])
    assert received < 1.4 * asked  # the server now gets about what it asked for, not 30 a second
    assert last["faces"] and last["faces"][0]["label"] == "happy"
    slow.delay = 0.0  # the analysis keeps up again: the camera's own rate, step by step
    await _until(lambda: paces()[-1] == 30, 30)
    assert track.fps == 30
    steps = paces()
    assert steps == sorted(steps[:1]) + sorted(steps[1:])  # down once, then only up
    await client.close()


@pytest.mark.asyncio
async def test_two_visitors_at_once_each_get_their_own_results(aiohttp_client, analyzer, face_frame_640):
    http = await aiohttp_client(create_app(analyzer=analyzer))
    blank = face_frame_640.copy()
    blank[:] = 90  # a camera with nobody in front of it
    a = LiveClient(await http.ws_connect("/ws"))
    b = LiveClient(await http.ws_connect("/ws"))
    await a.start(FrameTrack([face_frame_640], fps=15))
    await b.start(FrameTrack([blank], fps=15))
    assert len(http.server.app[keys.LIVE_SESSIONS]) == 2
    await a.wait_results(5, timeout=40)
    await b.wait_results(5, timeout=40)
    seen = [r["faces"] for r in a.results if r["faces"]]
    assert len(seen) >= 0.7 * len(a.results) and seen[-1][0]["label"] == "happy"
    assert all(not r["faces"] for r in b.results)
    await a.close()
    # b keeps streaming after a left
    n = len(b.results)
    await b.wait_results(n + 3, timeout=20)
    await b.close()


async def eventually(condition, seconds: float = 10) -> bool:
    """Poll ``condition()`` until it holds or ``seconds`` pass; its last value."""
    for _ in range(int(seconds * 10)):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return bool(condition())


@pytest.mark.asyncio
async def test_client_that_vanishes_mid_stream_is_cleaned_up(aiohttp_client, analyzer, face_frame_640):
    http = await aiohttp_client(create_app(analyzer=analyzer))
    app = http.server.app
    # 1. the peer connection goes away but the WebSocket stays: the session ends, the socket lives on
    client = LiveClient(await http.ws_connect("/ws"))
    await client.start(FrameTrack([face_frame_640], fps=15))
    await client.wait_results(2, timeout=40)
    session = next(iter(app[keys.LIVE_SESSIONS]))
    await client.pc.close()
    assert await eventually(lambda: not app[keys.LIVE_SESSIONS])
    assert session.pc.connectionState == "closed"
    assert not session._tasks
    await client.ws.send_json({"type": "ping", "t": 1})
    assert await eventually(lambda: any(m["type"] == "pong" for m in client.messages), seconds=5)
    await client.close()

    # 2. the WebSocket drops while streaming (the tab closed): the session is closed with it
    client = LiveClient(await http.ws_connect("/ws"))
    await client.start(FrameTrack([face_frame_640], fps=15))
    await client.wait_results(2, timeout=40)
    session = next(iter(app[keys.LIVE_SESSIONS]))
    await client.ws.close()
    assert await eventually(lambda: not app[keys.LIVE_SESSIONS] and not app[keys.CONNECTIONS])
    assert session.pc.connectionState == "closed"
    assert not session._tasks
    await client.close()


@pytest.mark.asyncio
async def test_a_stream_that_ended_is_freed_within_seconds_not_at_the_collectors_next_full_pass(
        aiohttp_client, analyzer, face_frame_640):
    # a peer connection's objects refer to each other in cycles: only the garbage collector
    # frees them, and its full pass over a process holding Keras is rare (server/memory.py)
    http = await aiohttp_client(create_app(analyzer=analyzer))
    app = http.server.app
    gone = []
    for _ in range(2):
        client = LiveClient(await http.ws_connect("/ws"))
        await client.start(FrameTrack([face_frame_640], fps=15))
        await client.wait_results(2, timeout=40)
        session = next(iter(app[keys.LIVE_SESSIONS]))
        gone += [weakref.ref(session), weakref.ref(session.pc), weakref.ref(session.processor)]
        del session
        await client.close()
    assert await eventually(lambda: not app[keys.LIVE_SESSIONS])
    assert await eventually(lambda: all(ref() is None for ref in gone), seconds=5), \
        [type(ref()).__name__ for ref in gone if ref() is not None]


@pytest.mark.asyncio
async def test_two_faces_in_one_stream_get_two_boxes_and_two_stable_ids(aiohttp_client, analyzer, astronaut_bgr):
    crop = astronaut_bgr[0:300, 80:380]  # the head, 300x300
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[90:390, 10:310] = crop  # face near x 104..201
    # a second copy, not mirrored: the mirrored pair's symmetric suits, where they meet, are a face
    # to the Haar cascade in most frames (a known limitation: docs/live.md, "Face detection")
    frame[90:390, 330:630] = crop  # face near x 424..521
    http = await aiohttp_client(create_app(analyzer=analyzer))
    client = LiveClient(await http.ws_connect("/ws"))
    await client.start(FrameTrack([frame], fps=15))
    results = await client.wait_results(8, timeout=40)
    await client.close()
    both = [r for r in results if len(r["faces"]) == 2]
    assert len(both) >= len(results) // 2
    last = both[-1]["faces"]
    left, right = sorted(last, key=lambda f: f["box"][0])
    assert 60 < left["box"][0] + left["box"][2] / 2 < 250 and 380 < right["box"][0] + right["box"][2] / 2 < 580
    assert left["label"] == right["label"] == "happy"
    ids = {f["id"] for r in both for f in r["faces"]}
    assert ids == {left["id"], right["id"]}, "each face keeps its own id"
