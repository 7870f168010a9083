"""A study session follows one face, the participant's, through issue 24's tracking: held faces,
shot cuts that end every face, a face lost for longer than it is held. A held face (not found in its
frame) is never a measurement: not the participant's face in the figures, not someone else in view,
never the face that becomes the participant's, never the face that passes the camera check.

The real analyser and tracker over pictures made here (the astronaut in scikit-image's rooms, as
tests/test_shot_cuts.py), so these run anywhere.
"""

import numpy as np
import pytest

import ml
import scenes
from ml.tracking import iou
from server.studies import definitions
from server.studies.camera_check import HOLD_S, CameraCheck
from server.studies.participant_face import PLACE_S, ParticipantFace

CLASSES = list(ml.CLASSES)


def face(id, box, source="detected", **more):
    return {"id": id, "box": box, "source": source, "held": source == "held", **more}


# ---------- the participant's face, face by face ----------


def test_a_held_face_never_becomes_the_participant():
    chooser = ParticipantFace()
    assert chooser.choose([face(4, (10, 10, 50, 50), "held")]) is None  # the first face: one found, not a held one
    p = face(1, (100, 100, 80, 80))
    assert chooser.choose([p]) is p
    held = face(1, (100, 100, 80, 80), "held")
    other = face(2, (300, 90, 120, 120))
    assert chooser.choose([other, held]) is held  # the participant missed: still theirs, held
    assert 2 in chooser.others
    # the participant's id gone (lost for longer than held): a held face not known to be someone else
    # is not taken, however near; a face found is
    stranger = face(5, (104, 100, 80, 80), "held")
    assert chooser.choose([stranger]) is None
    back = face(6, (60, 120, 76, 76))
    assert chooser.choose([face(2, (300, 90, 120, 120)), stranger, back]) is back
    assert {2, 5} <= chooser.others


def test_after_a_shot_cut_someone_else_found_first_is_known_by_place():
    """A cut (the lights off and on) gives every face a new id: the other person, found a frame before
    the participant, is not taken for them, being nearer to where the other person just was."""
    chooser = ParticipantFace()
    p, o = (100, 100, 80, 80), (400, 90, 120, 120)
    chooser.choose([face(1, p)], 0.0)
    for k in range(1, 5):
        chooser.choose([face(2, o), face(1, p)], k / 30)
    assert chooser.choose([], 0.2) is None  # the cut's black frame: nobody
    assert chooser.choose([face(3, (396, 94, 118, 118))], 0.25) is None  # the other person first
    mine = face(4, (102, 98, 82, 82))
    assert chooser.choose([face(3, (396, 94, 118, 118)), mine], 0.3) is mine
    assert chooser.others == {2, 3}
    # someone else's place is remembered for PLACE_S seconds after they were last found
    chooser = ParticipantFace()
    chooser.choose([face(1, p)], 0.0)
    chooser.choose([face(2, o), face(1, p)], 0.1)
    late = face(5, (396, 94, 118, 118))
    assert chooser.choose([late], PLACE_S + 1.0) is late  # long gone: the nearest face found is taken


def test_a_recorded_face_between_two_sightings_is_a_face_found():
    chooser = ParticipantFace()
    mine = face(1, (100, 100, 80, 80), "interpolated")
    assert chooser.choose([mine]) is mine


# ---------- the camera check ----------


def test_the_camera_check_counts_faces_found_only():
    limits = definitions.thresholds(None)
    check = CameraCheck(limits)
    me = face(1, (200, 120, 160, 160), brightness=120.0)
    held_me = face(1, (200, 120, 160, 160), "held")
    assert check.update([held_me], 0.0)["problem"] == "no_face"  # a held face alone does not start the check
    assert check.update([me], 0.1)["state"] == "holding"
    # missed once (held by the tracker): the good spell goes on, and a held face of someone who left
    # is not "someone else in view"
    assert check.update([held_me], 1.0) == CameraCheck.status("holding", None, 0.9)
    assert check.update([me, face(2, (450, 100, 150, 150), "held")], 1.5)["state"] == "holding"
    assert check.update([held_me], 0.1 + HOLD_S + 0.1)["state"] == "holding"  # never passed on a held frame
    assert not check.passed
    assert check.update([me], 0.1 + HOLD_S + 0.2)["state"] == "passed" and check.face is me
    # someone else found in view ends a spell, as before
    other = CameraCheck(limits)
    other.update([me], 0.0)
    assert other.update([me, face(2, (450, 100, 150, 150))], 0.5)["problem"] == "several"


# ---------- the figures ----------


def frame_row(i, face_id=None, source=None, others=(), task=0):
    probs = {c: (0.7 if c == "happy" else 0.05) for c in CLASSES}
    has = face_id is not None
    return {"id": i, "frame": i, "time_s": i / 10, "file": None, "task": task, "face": face_id, "source": source,
            "label": "happy" if has else None, "w": 100 if has else None, "brightness": 120.0 if has else None,
            "others": list(others), **{c: (probs[c] if has else None) for c in CLASSES}}


def test_a_held_face_counts_in_no_figure():
    found = [frame_row(i, 1, "detected") for i in range(10)]
    held = [frame_row(i, 1, "held") for i in range(10, 15)]
    older = [frame_row(i, 1, None) for i in range(15, 20)]  # stored before the source column: faces found
    gone = [frame_row(i) for i in range(20, 25)]
    summary = definitions.summarize([*found, *held, *older, *gone], ["A"], timeline=True)
    s = summary["session"]
    assert s["frames"] == 25 and s["frames_with_face"] == 15 and s["face_share"] == 0.6
    assert s["face_s"] == pytest.approx(1.5) and s["seconds"] == pytest.approx(2.4)
    assert s["shares"]["happy"] == 1.0 and s["mean_probs"]["happy"] == 0.7
    assert [p is None for _, p in summary["timeline"]] == [False] * 10 + [True] * 5 + [False] * 5 + [True] * 5
    assert summary["tasks"][0]["frames_with_face"] == 15


def test_someone_else_only_held_is_not_in_view():
    from server.studies.store import FrameGrouper

    rows = []
    for i in range(10):
        rows.append({**frame_row(2 * i, 1, "detected"), "id": 2 * i, "participant": True})
        rows.append({**frame_row(2 * i, 7, "held" if i >= 5 else "detected"), "id": 2 * i + 1, "participant": False,
                     "frame": 2 * i, "time_s": 2 * i / 10})
    for r in rows:
        r["frame"], r["time_s"] = r["id"] // 2, (r["id"] // 2) / 10
        r.pop("others")
    grouper = FrameGrouper()
    frames = [f for f in (grouper.feed(dict(r)) for r in rows) if f is not None] + [grouper.end()]
    assert [f["others"] for f in frames] == [[7]] * 5 + [[]] * 5
    s = definitions.summarize(frames, ["A"])["session"]
    assert s["other_s"] == pytest.approx(0.5) and s["other_faces"] == 1


# ---------- the real tracker: one participant through misses, someone else and a shot cut ----------


def picture(room, people):
    """A 640x480 frame of ``room`` with the astronaut's head at each (size, centre, mirrored): (frame, boxes)."""
    frame = scenes.background(room)
    image, (x, y, w, h) = scenes.astronaut_head()
    boxes = []
    for size, centre, flip in people:
        img, fx = (np.ascontiguousarray(image[:, ::-1]), image.shape[1] - x - w) if flip else (image, x)
        boxes.append(scenes._paste(frame, img, (fx, y, w, h), size, centre))
    return frame, boxes


def test_a_live_session_follows_the_participant_through_misses_someone_else_and_a_cut(analyzer):
    me, someone = (90, (200, 230), False), (120, (470, 230), True)  # the other face is the larger one
    # another camera (another room behind): each a little elsewhere, the participant smaller
    moved_me, moved_someone = (80, (250, 260), False), (105, (530, 210), True)
    segments = [  # (what, frames, room, people: the participant first where present)
        ("alone", 12, 0, [me]),
        ("someone else comes", 12, 0, [me, someone]),
        ("the participant missed", 6, 0, [someone]),  # held: fewer than 0.5 s
        ("the participant gone", 20, 0, [someone]),  # lost for longer than the tracker holds a face
        ("the participant back", 20, 0, [me, someone]),  # found within the 12 slices of the search
        ("a cut to another camera", 14, 2, [moved_me, moved_someone]),
    ]
    tracker, chooser = ml.FaceTracker(), ParticipantFace()
    k, story = 0, []
    for what, n, room, people in segments:
        for j in range(n):
            frame, boxes = picture(room, people)
            frame = np.roll(frame, j % 3, axis=1)  # a camera's small shake, not a cut
            boxes = [(x + j % 3, y, w, h) for x, y, w, h in boxes]
            faces = analyzer.analyze(frame, tracker, k / 30)
            mine = chooser.choose(faces, k / 30)
            truth_me = boxes[0] if people[0] in (me, moved_me) else None
            truth_other = boxes[-1] if people[-1] in (someone, moved_someone) else None
            story.append((what, j, tracker.cut, mine, truth_me, truth_other))
            k += 1

    def on(box, truth):
        return truth is not None and iou(box, truth) >= 0.4

    # never someone else's face, held or found
    assert not [(w, j) for w, j, _, mine, _, other in story if mine is not None and on(mine["box"], other)]
    # the chosen face is always the participant's (found), or their held box while they are missed
    for w, j, _, mine, truth, _ in story:
        if mine is not None and truth is not None:
            assert on(mine["box"], truth), (w, j, mine)
    seg = lambda name: [s for s in story if s[0] == name]  # noqa: E731
    # a cut only where the camera changed (and the stream's first frame)
    assert [(w, j) for w, j, cut, *_ in story if cut] == [("alone", 0), ("a cut to another camera", 0)]
    # followed once found, the larger newcomer never taken
    assert all(s[3] is not None for s in seg("alone")[2:])
    assert all(s[3] is not None and on(s[3]["box"], s[4]) for s in seg("someone else comes"))
    # missed for 0.2 s: still followed, held (not a measurement), at the participant's place
    missed = seg("the participant missed")
    assert all(s[3] is not None and s[3]["source"] == "held" for s in missed)
    # a held face's box is not lit by the face: no brightness for it, one for every face found
    assert all("brightness" not in s[3] for s in missed)
    assert all(0 < s[3]["brightness"] < 255 for s in story if s[3] is not None and s[3]["source"] == "detected")
    first_id = missed[0][3]["id"]
    # gone: nobody is the participant, though someone else is in view all along
    assert all(s[3] is None for s in seg("the participant gone")[-5:])
    # back under a new id and followed again; after the cut (every face new) re-acquired as the face
    # nearest to where the participant was, not the other one
    back = seg("the participant back")
    assert all(s[3] is not None and s[3]["id"] != first_id for s in back[-5:])
    after = seg("a cut to another camera")
    assert all(s[3] is not None and on(s[3]["box"], s[4]) for s in after[2:])
    assert len({s[3]["id"] for s in after[2:]}) == 1 and after[2][3]["id"] != back[-1][3]["id"]
