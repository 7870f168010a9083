"""The moments, per-task figures and hotspots (server/studies/moments.py) on hand-made timelines: every
threshold at its edge, the baseline correction (the camera check's seconds, or the first seconds), gaps
without the face, tasks (numbered from 1), the per-task figures over definitions.summarize's, and
hotspots across sessions."""

import pytest

from ml.labels import CLASSES
from server.studies.camera_check import HOLD_S
from server.studies.definitions import summarize
from server.studies.moments import (
    BASELINE_S, CHECK_MIN_FRAMES, HOTSPOT_WINDOW_S, NEGATIVE_HOLD_S, NEGATIVE_ON, SMILE_HOLD_S, SMILE_ON, SURPRISE_ON,
    Point, SessionMoments, baseline, baseline_of, hotspot_text, hotspots, moments, task_figures)

FPS = 10


def probs(**given) -> list[float]:
    """Seven probabilities: the given ones, the rest of 1 in neutral."""
    p = {c: 0.0 for c in CLASSES} | given
    p["neutral"] = round(1.0 - sum(v for c, v in given.items() if c != "neutral"), 6) if "neutral" not in given else given["neutral"]
    return [p[c] for c in CLASSES]


REST = probs()  # all neutral


def line(*segments, fps: int = FPS) -> list[Point]:
    """Segments (seconds, probs or None, task) one after the other, sampled at ``fps``."""
    out, t = [], 0.0
    for seconds, p, task in segments:
        for _ in range(round(seconds * fps)):
            out.append(Point(round(t, 4), task, p))
            t += 1 / fps
    return out


def test_baseline_is_the_first_seconds_after_the_face_is_seen():
    tl = line((2, None, None), (BASELINE_S, probs(sad=0.3), None), (10, probs(happy=0.9), 1))
    base = baseline(tl)
    assert base.source == "first seconds" and base.from_s == pytest.approx(2.0)
    assert base.to_s == pytest.approx(2.0 + BASELINE_S - 1 / FPS) and base.frames == BASELINE_S * FPS
    assert base.probs[CLASSES.index("sad")] == pytest.approx(0.3)  # not the happy frames after it
    assert baseline(line((3, None, None))) is None and moments(line((3, None, None)), None) == []
    assert baseline_of([], "camera check") is None


def test_a_resting_face_that_reads_sad_is_not_a_negative_moment_but_a_rise_above_it_is():
    sad_rest = probs(sad=0.35)
    tl = line((BASELINE_S, sad_rest, None), (10, sad_rest, 1), (1.5, probs(sad=0.35 + NEGATIVE_ON + 0.05), 1),
              (3, sad_rest, 1))
    found = moments(tl, baseline(tl))
    assert [(m.kind, m.expression, m.task) for m in found] == [("negative", "sad", 1)]
    m = found[0]
    assert m.start_s == pytest.approx(15.0) and m.length_s == pytest.approx(1.4)
    assert m.strength == pytest.approx(NEGATIVE_ON + 0.05)
    # without the baseline correction the whole session would be "sad": against an all-neutral baseline
    neutral = baseline_of(line((1, REST, None)), "camera check")
    assert len(moments(tl, neutral)) == 1 and moments(tl, neutral)[0].length_s > 15


def test_a_negative_onset_must_be_held_one_second():
    def run(seconds):
        tl = line((BASELINE_S, REST, None), (seconds, probs(angry=0.2, disgust=0.1), 2), (2, REST, 2))
        return moments(tl, baseline(tl))

    # the four negative expressions' rises add up: 0.2 + 0.1 >= NEGATIVE_ON
    held = run(NEGATIVE_HOLD_S + 0.1)  # 12 frames: first to last 1.1 s
    assert [(m.kind, m.expression, m.task) for m in held] == [("negative", "angry", 2)]
    assert run(NEGATIVE_HOLD_S) == []  # 10 frames: first to last 0.9 s, under a second


def test_below_the_threshold_is_no_moment_and_hysteresis_keeps_one_moment():
    tl = line((BASELINE_S, REST, None), (3, probs(sad=NEGATIVE_ON - 0.01), 1))
    assert moments(tl, baseline(tl)) == []
    # over the on threshold, then between off and on: one moment, not several
    wavy = line((BASELINE_S, REST, None), (0.5, probs(sad=0.3), 1), (1, probs(sad=0.18), 1), (0.5, probs(sad=0.3), 1),
                (1, REST, 1))
    found = moments(wavy, baseline(wavy))
    assert len(found) == 1 and found[0].length_s == pytest.approx(1.9)


def test_short_gaps_without_the_face_are_bridged_long_ones_end_a_moment():
    bridged = line((BASELINE_S, REST, None), (0.6, probs(sad=0.4), 1), (0.4, None, 1), (0.6, probs(sad=0.4), 1),
                   (1, REST, 1))
    found = moments(bridged, baseline(bridged))
    assert len(found) == 1 and found[0].length_s == pytest.approx(1.5)
    broken = line((BASELINE_S, REST, None), (0.8, probs(sad=0.4), 1), (1.0, None, 1), (0.8, probs(sad=0.4), 1))
    assert moments(broken, baseline(broken)) == []  # two runs of 0.7 s: neither is held a second


def test_surprise_peaks_and_smiles():
    tl = line((BASELINE_S, REST, None), (0.3, probs(surprise=SURPRISE_ON + 0.2), 1), (2, REST, 1),
              (SMILE_HOLD_S + 0.2, probs(happy=SMILE_ON + 0.1), 2), (2, REST, 2),
              (0.1, probs(surprise=0.9), 2), (2, REST, 2),  # one frame: no peak
              (SMILE_HOLD_S - 0.2, probs(happy=0.9), 2), (1, REST, 2))  # too short for a smile
    found = moments(tl, baseline(tl))
    assert [(m.kind, m.expression, m.task) for m in found] == [("surprise", "surprise", 1), ("smile", "happy", 2)]
    assert found[0].start_s == pytest.approx(BASELINE_S) and found[0].strength == pytest.approx(SURPRISE_ON + 0.2)
    assert found[1].start_s == pytest.approx(BASELINE_S + 2.3)
    assert found[1].to_json()["play_from_s"] == pytest.approx(BASELINE_S + 2.3 - 3)
    # a participant who smiles at rest: their baseline smile is not a moment, a bigger one is
    smiley = line((BASELINE_S, probs(happy=0.5), None), (3, probs(happy=0.5), 1), (1, probs(happy=0.95), 1))
    assert [m.kind for m in moments(smiley, baseline(smiley))] == ["smile"]
    assert moments(smiley, baseline(smiley))[0].strength == pytest.approx(0.45)


def frames_of(tl: list[Point]) -> list[dict]:
    """The points as store.participant_frames gives them (tasks 0-based in the rows), for definitions.summarize."""
    return [{"time_s": p.time_s, "task": None if p.task is None else p.task - 1, "file": "" if p.live else "rec.mp4",
             "face": None if p.probs is None else 1, "w": None if p.probs is None else 120, "brightness": None,
             "label": None if p.probs is None else CLASSES[max(range(7), key=lambda k: p.probs[k])], "others": [],
             **{c: None if p.probs is None else p.probs[k] for k, c in enumerate(CLASSES)}} for p in tl]


def test_task_figures_add_valence_expressiveness_and_moments_to_the_definitions_figures():
    tl = line((BASELINE_S, probs(sad=0.2), None),
              (4, probs(happy=0.6), 1),  # happy up 0.6, sad down 0.2: valence 0.6 - max(0, 0, 0, -0.2) = 0.6
              (4, probs(sad=0.6), 2))  # sad up 0.4: valence 0 - 0.4
    base = baseline(tl)
    periods = summarize(frames_of(tl), ["Find a lamp", "Pay"])["tasks"]
    table = task_figures(tl, base, moments(tl, base), periods)
    assert [(r["task"], r["title"]) for r in table] == [(1, "Find a lamp"), (2, "Pay"), (None, "(outside tasks)")]
    t1, t2, outside = table
    # the definitions' figures are kept as they are: one function for frames with the face, face time ...
    for mine, theirs in zip(table, periods):
        assert {k: mine[k] for k in theirs} == theirs
    assert t1["frames_with_face"] == 40 and t1["face_s"] == pytest.approx(3.9 + 0.1)  # the last frame: to the next
    assert t1["valence"] == pytest.approx(0.6 - 0.0, abs=1e-3)  # the negative rises' max is 0 (angry etc. stay)
    assert t1["expressiveness"] == pytest.approx(0.6)  # 1 - the mean probability of neutral
    assert t1["expressiveness"] == pytest.approx(1 - periods[0]["mean_probs"]["neutral"])
    assert t2["valence"] == pytest.approx(-0.4) and t2["expressiveness"] == pytest.approx(0.6)
    assert t2["moments"] == {"negative": 1, "surprise": 0, "smile": 0} and t1["moments"]["smile"] == 1
    assert outside["valence"] == pytest.approx(0.0) and outside["expressiveness"] == pytest.approx(0.2)
    # a task without the face: no figures, and no baseline: no valence
    blank = line((3, None, 1))
    empty = task_figures(blank, None, [], summarize(frames_of(blank), ["a", "b"])["tasks"])
    assert empty[0]["valence"] is None and empty[0]["expressiveness"] is None and empty[1]["frames_with_face"] == 0
    assert task_figures(tl, None, [], periods)[0]["valence"] is None


def test_the_baseline_is_the_camera_checks_held_seconds():
    # the participant at rest during the check (sad 0.3 read at rest), then smiling from the first task on
    tl = line((1, probs(happy=0.9), None), (HOLD_S, probs(sad=0.3), None), (1, REST, None), (6, probs(happy=0.5), 1))
    check_s = 1 + HOLD_S  # the check's passed moment: HOLD_S after its first good frame (camera_check.py)
    base = baseline(tl, check_s)
    assert base.source == "camera check" and base.frames == HOLD_S * FPS + 1  # both ends of the held seconds
    assert base.from_s == pytest.approx(1.0) and base.to_s == pytest.approx(check_s)
    assert base.probs[CLASSES.index("sad")] == pytest.approx(0.3 * 20 / 21)  # not the smile before the check
    # the first seconds would have taken the smile before the check as part of the rest: the smile in
    # task 1 is a moment only against the check's baseline
    assert [(m.kind, m.task) for m in moments(tl, base)] == [("smile", None), ("smile", 1)]
    assert [(m.kind, m.task) for m in moments(tl, baseline(tl))] == [("smile", None)]
    # too few frames with the face in the held seconds (a stream under load): the first seconds instead
    sparse = [p for p in tl if not (1.0 <= p.time_s <= check_s) or round(p.time_s * FPS) % 15 == 0]
    assert sum(1 for p in sparse if 1.0 <= p.time_s <= check_s) < CHECK_MIN_FRAMES
    assert baseline(sparse, check_s).source == "first seconds"


def test_frames_of_a_recording_added_to_the_session_count_in_the_figures_not_in_the_moments():
    live = line((BASELINE_S, REST, None), (3, REST, 1))
    recorded = [Point(p.time_s, 1, p.probs, live=False) for p in line((2, probs(happy=0.9), 1))]  # another clock
    tl = live + recorded
    base = baseline(tl)
    assert base.source == "first seconds" and base.frames == BASELINE_S * FPS  # the recording's frames not in it
    assert moments(tl, base) == []  # its smile is on another clock: no moment
    periods = summarize(frames_of(tl), ["a"])["tasks"]
    t1 = task_figures(tl, base, [], periods)[0]
    assert t1["frames_with_face"] == 30 + 20 and t1["valence"] == pytest.approx(0.9 * 20 / 50)


def session(label, starts, *onsets, kind="negative", task=2, recording=True):
    """A session whose moments of ``kind`` start ``onsets`` seconds into ``task``."""
    from server.studies.moments import Moment

    ms = [Moment(kind, "sad" if kind == "negative" else "happy", starts[task] + o, 1.2, starts[task] + o + 0.5, 0.4,
                 task) for o in onsets]
    return SessionMoments(f"id-{label}", label, starts, ms, recording)


def test_hotspots_count_sessions_aligned_on_the_task_start():
    starts = [{1: 10.0, 2: 40.0}, {1: 12.0, 2: 70.0}, {1: 8.0, 2: 33.0}, {1: 9.0, 2: 50.0},
              {1: 11.0, 2: 45.0}, {1: 10.0, 2: 41.0}]
    sessions = [session("S1", starts[0], 6.0), session("S2", starts[1], 7.5, 8.0),  # two in one window: once
                session("S3", starts[2], 9.0), session("S4", starts[3], 5.5),
                session("S5", starts[4], 30.0), session("S6", starts[5], kind="smile")]
    found = hotspots(sessions, ["Find a lamp", "Pay"])
    assert len(found) == 1
    h = found[0]
    assert (h["task"], h["title"], h["kind"], h["sessions"], h["of"]) == (2, "Pay", "negative", 4, 6)
    assert (h["from_s"], h["to_s"]) == (5.5, 9.0)
    assert h["text"] == "4 of 6 participants: negative onset 6-9 s into task 2"
    members = {m["label"]: m for m in h["members"]}
    assert set(members) == {"S1", "S2", "S3", "S4"}
    assert members["S2"]["at_s"] == pytest.approx(77.5) and members["S2"]["play_from_s"] == pytest.approx(74.5)
    assert members["S4"]["onset_s"] == pytest.approx(5.5)


def test_hotspot_windows_thresholds_and_tasks_not_run():
    starts = {1: 0.0, 2: 20.0}
    # the same 4 onsets: inside one window, or spread wider than HOTSPOT_WINDOW_S
    near = [session(f"S{i}", starts, 10 + i) for i in range(4)]
    assert [h["sessions"] for h in hotspots(near, ["a", "b"])] == [4]
    spread = [session(f"S{i}", starts, 10 + i * (HOTSPOT_WINDOW_S + 0.5)) for i in range(4)]
    assert hotspots(spread, ["a", "b"]) == []
    # 2 of 7: under a third of the sessions that ran the task; sessions that never ran it do not count
    few = [session("S1", starts, 3), session("S2", starts, 4)] + [session(f"S{i}", starts) for i in range(3, 8)]
    assert hotspots(few, ["a", "b"]) == []
    not_run = [session("S1", starts, 3), session("S2", starts, 4)] + [
        SessionMoments(f"id-{i}", f"S{i}", {1: 0.0}) for i in range(3, 8)]
    assert [(h["sessions"], h["of"]) for h in hotspots(not_run, ["a", "b"])] == [(2, 2)]
    # two windows in one task: the fullest first, then the rest; listed in time order
    two = [session(f"S{i}", starts, 2 + i * 0.5, 30 + i) for i in range(3)] + [session("S9", starts, 31)]
    found = hotspots(two, ["a", "b"])
    assert [(h["from_s"], h["sessions"]) for h in found] == [(2.0, 3), (30.0, 4)]
    assert hotspot_text({"sessions": 2, "of": 3, "kind": "smile", "from_s": 4.2, "to_s": 4.4, "task": 1}) == \
        "2 of 3 participants: smile 4 s into task 1"
