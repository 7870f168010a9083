"""The live analysis threads (server/inference.py): several streams analysed side by side give
the faces each would get alone; a decoded video frame is analysed from its luma plane."""

import asyncio
import threading

import av
import numpy as np

import ml
from ml.detector import iou
from server.inference import AnalysisService


def video_frame(bgr: np.ndarray) -> av.VideoFrame:
    """The frame as a WebRTC decoder hands it over: YUV 4:2:0."""
    return av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")


def test_streams_analysed_on_two_threads_find_what_one_thread_finds(analyzer, face_frame_640):
    alone = AnalysisService(analyzer=analyzer, live_threads=1)
    together = AnalysisService(analyzer=analyzer, live_threads=2)
    alone.load()
    together.load()
    threads = set()

    def spy(*args):
        threads.add(threading.current_thread().name)
        return AnalysisService.analyze_frame(together, *args)

    together.analyze_frame = spy

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
    assert [len(f) for f in expected] == [0] + [1] * 11  # reported from its second sighting
    for faces, _ in several:
        assert [len(f) for f in faces] == [len(f) for f in expected]
        for got, want in zip(faces[1:], expected[1:]):
            assert got[0]["label"] == want[0]["label"] == "happy"
            assert iou(got[0]["box"], want[0]["box"]) > 0.9
    assert len(threads) == 2  # the four streams' frames went to both live threads


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
    from server.inference import luma

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
