"""Videos of real faces with known face boxes, as a camera would film them: faces 40-250 px wide
in 640x480, drifting, growing, brightness changing, encoded as MPEG-4 video and decoded again.

    scene = astronaut_scene("astronaut 50-60 px", sizes=(50, 60))
    scene.frames, scene.truth      # BGR frames; per frame the list of true (x, y, w, h) face boxes

Used by bench/face_tracking.py and the recall tests. The real face photos are read from
``../shared/datasets/faces`` (``PHOTOS``: where each face is, checked by eye); nothing is copied.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import samples

FACES_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "faces"
if not FACES_DIR.is_dir():
    FACES_DIR = Path("/work/shared/datasets/faces")
WIDTH, HEIGHT, FPS = 640, 480, 30

# photo -> the face boxes in it (x, y, w, h), found by a careful Haar scan and checked by eye
PHOTOS = {
    "alex-lacamoire.png": [(173, 116, 182, 182)],
    "knn_examples_train_rose_leslie_img2.jpg": [(151, 139, 301, 301)],
    "knn_examples_train_obama_obama.jpg": [(344, 95, 300, 300)],
    "lin-manuel-miranda.png": [(242, 128, 357, 357)],
    "biden.jpg": [(428, 210, 321, 321)],
    "knn_examples_train_rose_leslie_img1.jpg": [(593, 69, 311, 311)],
    "knn_examples_train_alex_lacamoire_img1.jpg": [(231, 123, 418, 418)],
    "obama-480p.jpg": [(376, 41, 135, 135)],
    "two_people.jpg": [(234, 28, 178, 178), (786, 63, 173, 173)],
}


@dataclass
class Scene:
    name: str
    frames: list = field(default_factory=list)
    truth: list = field(default_factory=list)  # per frame: the true face boxes
    fps: float = FPS


def have_photos() -> bool:
    return all((FACES_DIR / name).is_file() for name in PHOTOS)


def photo(name: str) -> tuple[np.ndarray, list]:
    image = cv2.imread(str(FACES_DIR / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(FACES_DIR / name)
    return image, PHOTOS[name]


ROOMS = ("coffee", "rocket", "brick", "clock")  # scikit-image photos without faces, behind the people


def background(seed: int) -> np.ndarray:
    """A real, textured background (one of scikit-image's photos, no face in it), slightly out
    of focus as behind a person, with a soft light gradient and a little sensor noise."""
    from skimage import data

    rng = np.random.default_rng(seed)
    room = getattr(data, ROOMS[seed % len(ROOMS)])()
    room = cv2.cvtColor(room, cv2.COLOR_RGB2BGR) if room.ndim == 3 else cv2.cvtColor(room, cv2.COLOR_GRAY2BGR)
    room = cv2.GaussianBlur(cv2.resize(room, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA), (0, 0), 1.5)
    xx = np.linspace(0.75, 1.1, WIDTH, dtype=np.float32)[None, :, None]
    bg = room.astype(np.float32) * xx + rng.normal(0, 3, (HEIGHT, WIDTH, 3)).astype(np.float32)
    return np.clip(bg, 0, 255).astype(np.uint8)


def _paste(frame, image, face, size, centre):
    """Paste ``image`` scaled so that its ``face`` box is ``size`` px wide with the face's centre
    at ``centre``; the head and shoulders around it come along. Returns the face's box."""
    x, y, w, h = face
    s = size / w
    x0, x1 = max(0, int(x - 1.2 * w)), min(image.shape[1], int(x + 2.2 * w))
    y0, y1 = max(0, int(y - 0.8 * h)), min(image.shape[0], int(y + 2.4 * h))
    crop = image[y0:y1, x0:x1]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                      interpolation=cv2.INTER_AREA)
    fx, fy = (x - x0) * s, (y - y0) * s  # the face's corner in the crop
    left, top = round(centre[0] - size / 2 - fx), round(centre[1] - size / 2 - fy)
    cx0, cy0 = max(0, -left), max(0, -top)
    cx1, cy1 = min(crop.shape[1], WIDTH - left), min(crop.shape[0], HEIGHT - top)
    if cx1 > cx0 and cy1 > cy0:
        frame[top + cy0 : top + cy1, left + cx0 : left + cx1] = crop[cy0:cy1, cx0:cx1]
    return (left + round(fx), top + round(fy), round(w * s), round(h * s))


def _path(t, size, lane, phase):
    """The face's centre at time t: a slow drift inside its lane (x0, x1) of the frame, as a
    person sways in front of a camera."""
    x0, x1 = lane
    half = size * 0.6
    ax, bx = x0 + half, x1 - half
    ay, by = size * 0.75, HEIGHT - size * 0.75
    u = 0.5 + 0.45 * math.sin(2 * math.pi * t / 10 + phase)  # up to about 5 px a frame
    v = 0.5 + 0.4 * math.sin(2 * math.pi * t / 7 + 2 * phase)
    return (ax + (bx - ax) * u if bx > ax else (x0 + x1) / 2, ay + (by - ay) * v if by > ay else HEIGHT / 2)


def render(name, faces, seconds=4.0, seed=0, brightness=(0.55, 1.3)) -> Scene:
    """``faces``: (image, face box, (start px, end px), lane (x0, x1)) per face; one encoded video."""
    bg = background(seed)
    scene = Scene(name)
    n = int(seconds * FPS)
    for i in range(n):
        t = i / FPS
        frame = bg.copy()
        boxes = []
        for k, (image, box, (a, b), lane) in enumerate(faces):
            size = a + (b - a) * i / max(1, n - 1)
            boxes.append(_paste(frame, image, box, size, _path(t, size, lane, phase=1.3 * k + seed)))
        lo, hi = brightness
        gain = lo + (hi - lo) * (0.5 + 0.5 * math.sin(2 * math.pi * t / 3.0 + seed))
        frame = cv2.convertScaleAbs(frame, alpha=gain, beta=0)
        scene.frames.append(frame)
        scene.truth.append(boxes)
    scene.frames = encode_decode(scene.frames)
    return scene


def encode_decode(frames, fps=FPS) -> list:
    """The frames as a camera's video would give them: MPEG-4 encoded, then decoded."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "scene.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
        if not writer.isOpened():
            raise RuntimeError("OpenCV cannot write MPEG-4 video here")
        for f in frames:
            writer.write(f)
        writer.release()
        cap = cv2.VideoCapture(path)
        out = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            out.append(f)
        cap.release()
    if len(out) != len(frames):
        raise RuntimeError(f"decoded {len(out)} of {len(frames)} frames")
    return out


def astronaut_head():
    """The astronaut photo and its face box (tests/samples.py)."""
    return samples.astronaut_bgr(), samples.ASTRONAUT_FACE


def astronaut_scene(name="astronaut", sizes=(50, 60), seconds=3.0, seed=0) -> Scene:
    image, box = astronaut_head()
    return render(name, [(image, box, sizes, (0, WIDTH))], seconds=seconds, seed=seed)


def astronaut_still_scenes(seconds=2.0) -> list[Scene]:
    """The issue's astronaut scenes: the photo stretched to fill 640x480; two 62-px copies side by
    side; an undistorted 4:3 crop filling the frame. Still pictures, filmed: a little drift and
    brightness change."""
    image, (x, y, w, h) = astronaut_head()
    scenes = []
    n = int(seconds * FPS)

    def film(name, make):
        scene = Scene(name)
        for i in range(n):
            t = i / FPS
            dx, dy = round(6 * math.sin(2 * math.pi * t / seconds)), round(4 * math.cos(2 * math.pi * t / seconds))
            frame, boxes = make(dx, dy)
            gain = 0.75 + 0.35 * (0.5 + 0.5 * math.sin(2 * math.pi * t / 2.0))
            scene.frames.append(cv2.convertScaleAbs(frame, alpha=gain, beta=0))
            scene.truth.append(boxes)
        scene.frames = encode_decode(scene.frames)
        scenes.append(scene)

    def stretched(dx, dy):
        sx, sy = WIDTH / image.shape[1], HEIGHT / image.shape[0]
        frame = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        frame = np.roll(frame, (dy, dx), axis=(0, 1))
        return frame, [(round(x * sx) + dx, round(y * sy) + dy, round(w * sx), round(h * sy))]

    def crop43(dx, dy):
        c = image[64:448, :]  # 512x384: 4:3
        s = WIDTH / c.shape[1]
        frame = cv2.resize(c, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        frame = np.roll(frame, (dy, dx), axis=(0, 1))
        return frame, [(round(x * s) + dx, round((y - 64) * s) + dy, round(w * s), round(h * s))]

    bg = background(7)

    def two_small(dx, dy):
        frame = bg.copy()
        boxes = [_paste(frame, image, (x, y, w, h), 62, (cx + dx, 220 + dy)) for cx in (200, 440)]
        return frame, boxes

    film("astronaut stretched to 640x480", stretched)
    film("astronaut 4:3 crop, 640x480", crop43)
    film("two astronauts, 62 px", two_small)
    return scenes


def photo_scenes(seconds=4.0) -> list[Scene]:
    """Faces 40-250 px wide from the real photos: one face per scene, then two faces."""
    singles = [
        ("alex-lacamoire.png", (40, 50)),
        ("knn_examples_train_rose_leslie_img2.jpg", (50, 70)),
        ("knn_examples_train_obama_obama.jpg", (70, 100)),
        ("lin-manuel-miranda.png", (100, 140)),
        ("biden.jpg", (140, 200)),
        ("knn_examples_train_rose_leslie_img1.jpg", (200, 250)),
    ]
    scenes = []
    for k, (name, sizes) in enumerate(singles):
        image, boxes = photo(name)
        scenes.append(render(f"{name.split('.')[0][:24]} {sizes[0]}-{sizes[1]} px", [(image, boxes[0], sizes, (0, WIDTH))],
                             seconds=seconds, seed=k))
    a, abox = photo("knn_examples_train_alex_lacamoire_img1.jpg")
    b, bbox = photo("obama-480p.jpg")
    scenes.append(render("two faces, 45-60 and 110-130 px", [(a, abox[0], (45, 60), (0, 300)), (b, bbox[0], (130, 110), (330, WIDTH))],
                         seconds=seconds, seed=11))
    c, cbox = photo("two_people.jpg")
    scenes.append(render("two people, 70-90 px", [(c, cbox[0], (70, 90), (0, 310)), (c, cbox[1], (90, 70), (330, WIDTH))],
                         seconds=seconds, seed=12))
    return scenes
