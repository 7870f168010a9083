"""Videos of real faces with known face boxes, as a camera would film them: faces 40-250 px wide
in 640x480, drifting, growing, brightness changing, encoded as MPEG-4 video and decoded again;
and edited videos, shots of the photos cut hard one to the next.

    scene = astronaut_scene("astronaut 50-60 px", sizes=(50, 60))
    scene.frames, scene.truth      # BGR frames; per frame the list of true (x, y, w, h) face boxes
    scene = edited_scene(seconds=34)   # shots of 0.5-2 s; scene.cuts: the first frame of each shot but the first
    pan_scene(), walking_scene(), exposure_scene()   # continuous pictures that change a lot: no cut

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


# more photos for the edited videos: photo -> (every face in the part of it used, that part (x, y, w, h)
# or None for all of it); boxes from the same careful Haar scan, checked by eye
EDIT_PHOTOS = {
    **{name: (boxes, None) for name, boxes in PHOTOS.items()},
    "knn_examples_test_obama1.jpg": ([(530, 136, 459, 459)], None),
    "knn_examples_train_obama_obama2.jpg": ([(144, 244, 328, 328)], None),
    "obama_small.jpg": ([(94, 43, 137, 137)], None),
    "obama-240p.jpg": ([(189, 21, 67, 67)], None),
    "obama-720p.jpg": ([(566, 63, 200, 200)], None),
    "knn_examples_test_johnsnow_test1.jpg": ([(263, 143, 205, 205)], None),
    "knn_examples_test_obama_and_biden.jpg": ([(1118, 361, 235, 235), (736, 414, 203, 203)], (400, 0, 1250, 1050)),
    "knn_examples_train_biden_biden2.jpg": ([(407, 197, 519, 519)], None),
    "knn_examples_test_kit_with_rose.jpg": ([(245, 88, 108, 108), (73, 118, 88, 88)], None),
    "test_obama3.jpg": ([(634, 257, 329, 329)], None),
    "knn_examples_test_alex_lacamoire1.jpg": ([(594, 119, 393, 393)], None),
}


@dataclass
class Scene:
    name: str
    frames: list = field(default_factory=list)
    truth: list = field(default_factory=list)  # per frame: the true face boxes
    fps: float = FPS
    cuts: list = field(default_factory=list)  # edited videos: the first frame of each shot after the first


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
    cx1, cy1 = min(crop.shape[1], frame.shape[1] - left), min(crop.shape[0], frame.shape[0] - top)
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


def write_video(frames, path, fps=FPS) -> None:
    """The frames as an MPEG-4 video file (what a camera or an editor would give)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MPEG-4 video here")
    for f in frames:
        writer.write(f)
    writer.release()


def read_video(path) -> list:
    """Every frame of a video file, BGR."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out


def encode_decode(frames, fps=FPS) -> list:
    """The frames as a camera's video would give them: MPEG-4 encoded, then decoded."""
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "scene.mp4")
        write_video(frames, path, fps)
        out = read_video(path)
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


# -- edited videos and continuous pictures that change a lot ---------------------------------------


def shot(image, faces, size, n, rng, zoom=1.05, drift=2.0):
    """``n`` frames of one shot of ``image`` (BGR, any size) whose first face box is ``size`` px wide,
    drifting (up to ``drift`` px a frame) and zooming in slowly (to ``zoom``), every face inside
    the frame throughout: (frames, truth). Outside the picture its border is repeated."""
    s = size / faces[0][2]
    x0 = min(x for x, y, w, h in faces) * s
    y0 = min(y for x, y, w, h in faces) * s
    x1 = max(x + w for x, y, w, h in faces) * s
    y1 = max(y + h for x, y, w, h in faces) * s
    union_w, union_h = (x1 - x0) * zoom, (y1 - y0) * zoom
    if union_w > WIDTH - 8 or union_h > HEIGHT - 8:
        raise ValueError(f"faces of {size} px do not fit in {WIDTH}x{HEIGHT}")
    scaled = cv2.resize(image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))),
                        interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    ucx, ucy = (x0 + x1) / 2, (y0 + y1) / 2

    def centre():
        mx, my = 4 + union_w / 2, 4 + union_h / 2
        return rng.uniform(mx, WIDTH - mx), rng.uniform(my, HEIGHT - my)

    start = centre()
    angle = rng.uniform(0, 2 * math.pi)
    length = min(drift * n, 200.0)
    end = (start[0] + length * math.cos(angle), start[1] + length * math.sin(angle))
    mx, my = 4 + union_w / 2, 4 + union_h / 2
    end = (min(max(end[0], mx), WIDTH - mx), min(max(end[1], my), HEIGHT - my))
    frames, truth = [], []
    for i in range(n):
        u = i / max(1, n - 1)
        z = 1 + (zoom - 1) * u
        cx, cy = start[0] + (end[0] - start[0]) * u, start[1] + (end[1] - start[1]) * u
        tx, ty = cx - z * ucx, cy - z * ucy
        m = np.float32([[z, 0, tx], [0, z, ty]])
        frames.append(cv2.warpAffine(scaled, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        truth.append([(round(z * x * s + tx), round(z * y * s + ty), round(z * w * s), round(z * h * s)) for x, y, w, h in faces])
    return frames, truth


def edited_scene(seconds=34.0, seed=0, shot_s=(0.5, 2.0), sizes=(56, 200), empty_every=8) -> Scene:
    """An edited video: shots of the real photos (``EDIT_PHOTOS``; faces ``sizes`` px wide, drifting,
    zooming, each shot ``shot_s`` seconds at its own brightness) cut hard one to the next, about
    one shot in ``empty_every`` of a room with nobody in it; MPEG-4 encoded and decoded."""
    rng = np.random.default_rng(seed)
    names = sorted(EDIT_PHOTOS)
    photos = {}
    scene = Scene(f"edited, {seconds:.0f} s, cuts every {shot_s[0]}-{shot_s[1]} s")
    frames, previous = [], None
    total = int(seconds * FPS)
    k = 0
    while len(frames) < total:
        n = min(total - len(frames), int(round(rng.uniform(*shot_s) * FPS)))
        if frames:
            scene.cuts.append(len(frames))
        gain = rng.uniform(0.7, 1.2)
        if k % empty_every == empty_every - 1:  # nobody: a room
            room = background(int(rng.integers(0, 1000)))
            shown, truth = shot(room, [(280, 200, 80, 80)], 80, n, rng)
            truth = [[] for _ in truth]
        else:
            name = rng.choice([m for m in names if m != previous])
            previous = name
            if name not in photos:
                image = cv2.imread(str(FACES_DIR / name), cv2.IMREAD_COLOR)
                if image is None:
                    raise FileNotFoundError(FACES_DIR / name)
                boxes, part = EDIT_PHOTOS[name]
                if part is not None:
                    px, py, pw, ph = part
                    image = image[py : py + ph, px : px + pw]
                    boxes = [(x - px, y - py, w, h) for x, y, w, h in boxes]
                photos[name] = (image, boxes)
            image, boxes = photos[name]
            size = rng.uniform(*sizes)
            while True:
                try:
                    shown, truth = shot(image, boxes, size, n, rng)
                    break
                except ValueError:  # two faces far apart: smaller
                    size *= 0.85
        frames += [cv2.convertScaleAbs(f, alpha=gain, beta=0) for f in shown]
        scene.truth += truth
        k += 1
    scene.frames = encode_decode(frames)
    return scene


def have_edit_photos() -> bool:
    return all((FACES_DIR / name).is_file() for name in EDIT_PHOTOS)


def _wide_astronaut(width=1600):
    """A wide picture (a room, the astronaut's head and shoulders pasted in it at 120 px) and the face's box."""
    room = np.hstack([background(k) for k in range(-(-width // WIDTH))])[:, :width].copy()  # rooms side by side
    image, box = astronaut_head()
    face = _paste(room, image, box, 120, (width // 2, 220))
    return room, face


def pan_scene(seconds=3.0, speed=4.0) -> Scene:
    """A camera panning across a room with a person in it, ``speed`` px a frame (4: a slow pan,
    a 640-px picture in 5 s): no cut."""
    room, (fx, fy, fw, fh) = _wide_astronaut()
    n = int(seconds * FPS)
    start = max(0, min(room.shape[1] - WIDTH, fx + fw // 2 - WIDTH // 2 - round(speed * n / 2)))
    scene = Scene(f"pan, {speed:g} px a frame")
    for i in range(n):
        x = min(room.shape[1] - WIDTH, start + round(speed * i))
        scene.frames.append(room[:, x : x + WIDTH].copy())
        face = (fx - x, fy, fw, fh)
        scene.truth.append([face] if 0 <= face[0] and face[0] + fw <= WIDTH else [])
    scene.frames = encode_decode(scene.frames)
    return scene


def walking_scene(seconds=3.0, speed=8.0, size=160) -> Scene:
    """A person close to the camera walking across it (a ``size``-px face, ``speed`` px a frame, a
    large part of the picture changing): no cut."""
    bg = background(1)
    image, box = astronaut_head()
    n = int(seconds * FPS)
    scene = Scene(f"walking, {size} px face at {speed:g} px a frame")
    for i in range(n):
        frame = bg.copy()
        span = WIDTH - size - 20  # walks to one side, turns, walks back
        d = (speed * i) % (2 * span)
        cx = size / 2 + 10 + (d if d <= span else 2 * span - d)
        scene.truth.append([_paste(frame, image, box, size, (cx, HEIGHT / 2))])
        scene.frames.append(frame)
    scene.frames = encode_decode(scene.frames)
    return scene


def exposure_scene(seconds=3.0) -> Scene:
    """A still camera picture whose exposure jumps as a camera's auto-exposure and a light switch make
    it: 1.0, then 0.55 within 3 frames, back to 1.3, then halved at once and doubled again: no cut."""
    bg = background(2)
    image, box = astronaut_head()
    frame = bg.copy()
    face = _paste(frame, image, box, 100, (320, 220))
    n = int(seconds * FPS)
    scene = Scene("exposure jumps, a light switched")
    for i in range(n):
        k = i % 60
        gain = (1.0 if k < 10 else 1.0 - 0.15 * min(3, k - 9) if k < 25 else 1.3 if k < 40 else 0.65 if k < 50 else 1.3)
        scene.frames.append(cv2.convertScaleAbs(frame, alpha=gain, beta=0))
        scene.truth.append([face])
    scene.frames = encode_decode(scene.frames)
    return scene
