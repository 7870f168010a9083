"""The live analysis threads (server/live/inference.py): several streams analysed side by side (and
frames that wait together, in one batch) give the faces each would get alone; a decoded video
frame is analysed from its luma plane."""

import asyncio
import threading

import av
import numpy as np

import ml
from ml.detector import iou
from server.live.inference import AnalysisService


def video_frame(bgr: np.ndarray) -> av.VideoFrame:
    """The frame as a WebRTC decoder hands it over: YUV 4:2:0."""
    return av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")


def test_streams_analysed_on_two_threads_find_what_one_thread_finds(analyzer, face_frame_640):
    alone = AnalysisService(analyzer=analyzer, live_threads=1)
    together = AnalysisService(analyzer=analyzer, live_threads=2)
    alone.load()
    together.load()
    threads, batches = set(), []

    def spy(items):
        threads.add(threading.current_thread().name)
        batches.append(len(items))
        return AnalysisService.analyze_frames(together, items)

    together.analyze_frames = spy

    async def stream(service, tracker, n=12):
        faces = []
        for i in range(n):  # a frame of its own, as each decoder hands over (a frame is not shared)
            found, size, _ = await service.analyze(video_frame(face_frame_640), tracker, i / 30)
            faces.append(found)
        return faces, size

    async def main():
        one = await stream(alone, ml.FaceTracker())
        several = await asyncio.gather(*(stream(together, ml.FaceTracker()) for _ in range(4)))
        return one, several

    try:
        (expected, size), several = asyncio.run(main())
    finally:
        alone.close()
        together.close()
    assert size == (640, 480)
    assert [len(f) for f in expected] == [1] * 12  # from the first frame: a stream's first frame is a cut
    for faces, _ in several:
        assert [len(f) for f in faces] == [len(f) for f in expected]
        for got, want in zip(faces[1:], expected[1:]):
            assert got[0]["label"] == want[0]["label"] == "happy"
            assert iou(got[0]["box"], want[0]["box"]) > 0.9
    assert len(threads) == 2  # the four streams' frames went to both live threads
    assert sum(batches) == 4 * 12 and max(batches) > 1  # frames that waited together went together


def test_a_frame_the_analyser_cannot_take_fails_alone_in_its_batch(analyzer, face_frame_640, astronaut_bgr):
    service = AnalysisService(analyzer=analyzer, live_threads=1)
    service.load()
    calls = []
    batch = service.analyze_frames
    service.analyze_frames = lambda items: calls.append(len(items)) or batch(items)
    pictures = [face_frame_640, np.zeros((480, 640, 2), np.uint8), astronaut_bgr, face_frame_640]

    async def main():
        trackers = [ml.FaceTracker() for _ in pictures]
        for i in range(3):  # a few frames of each stream
            outcomes = await asyncio.gather(*(service.analyze(p, tr, i / 30) for p, tr in zip(pictures, trackers)),
                                            return_exceptions=True)
        return outcomes

    try:
        good, bad, astronaut, good_again = asyncio.run(main())
    finally:
        service.close()
    assert isinstance(bad, ValueError) and "shape" in str(bad)
    for (faces, size, seconds), picture in zip((good, astronaut, good_again), (pictures[0], pictures[2], pictures[3])):
        tracker = ml.FaceTracker()  # the same picture alone, outside any batch
        alone = [analyzer.analyze(picture, tracker, i / 30) for i in range(3)][-1]
        assert [f["label"] for f in faces] == [f["label"] for f in alone] and "happy" in [f["label"] for f in faces]
        assert all(iou(f["box"], g["box"]) > 0.9 for f, g in zip(faces, alone))
        assert size == (picture.shape[1], picture.shape[0]) and seconds > 0
    assert max(calls) > 1  # the four frames waited together


def test_a_decoded_frame_gives_the_faces_of_its_bgr_picture(analyzer, face_frame_640):
    service = AnalysisService(analyzer=analyzer, live_threads=1)
    service.load()
    try:
        from_video, size, _ = service.analyze_frame(video_frame(face_frame_640))
    finally:
        service.close()
    from_bgr = analyzer.analyze(face_frame_640)
    assert size == (640, 480)
    assert len(from_video) == len(from_bgr) == 1
    assert iou(from_video[0]["box"], from_bgr[0]["box"]) > 0.8
    assert from_video[0]["label"] == from_bgr[0]["label"] == "happy"


def test_an_analyser_that_cannot_be_copied_gets_one_live_thread():
    class Stub:
        def analyze(self, image, tracker=None, t=None):
            return []

    service = AnalysisService(analyzer=Stub(), live_threads=4)
    service.load()
    try:
        assert service.live_threads == 1
    finally:
        service.close()


def test_a_frames_luma_is_pyavs_grayscale_picture(face_frame_640):
    from server.live.inference import luma

    for pix in ("yuv420p", "yuvj420p", "nv12", "rgb24"):
        frame = av.VideoFrame.from_ndarray(face_frame_640, format="bgr24").reformat(format=pix)
        gray = luma(frame)
        assert gray.shape == (480, 640) and gray.dtype == np.uint8, pix
        assert np.abs(gray.astype(int) - frame.to_ndarray(format="gray").astype(int)).max() <= 1, pix


def test_the_more_frames_wait_for_a_live_thread_the_rarer_the_search_for_new_faces(analyzer, face_frame_640):
    service = AnalysisService(analyzer=analyzer, live_threads=1)
    service.load()

    async def main():
        alone = ml.FaceTracker()
        await service.analyze(face_frame_640, alone, 0.0)
        crowd = [ml.FaceTracker() for _ in range(4)]
        await asyncio.gather(*(service.analyze(face_frame_640, t, 0.0) for t in crowd))
        return alone, crowd

    try:
        alone, crowd = asyncio.run(main())
    finally:
        service.close()
    assert alone.search_every == 1  # the thread was free
    # four frames for one thread: the first takes it; with 2 in flight, every other frame; from 3, every third
    assert [t.search_every for t in crowd] == [1, 2, 3, 3]
