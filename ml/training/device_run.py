"""One training run on a GPU machine, end to end, within a time budget (``ml/training/device.sh`` runs it).

    python -m ml.training.device_run --out $OUT --budget-s 540 [--name NAME] [--train-probs] \\
        [--no-recalibrate] [--limit N] -- --arch vgg --arch-args '{"width": 64}' --epochs 300 ...

The arguments after ``--`` go to ``python -m ml.train``. In order:

1. train (``ml.train``, ``--time-limit`` set so that ``--reserve-s`` seconds are left);
2. recalibrate the BatchNorm statistics of the best epoch's model on plain Training
   images (``ml.recalibrate``), kept only if PublicTest accuracy gets better;
3. evaluate on PublicTest, plain and with ten-crop TTA (PrivateTest is never read here);
4. with ``--train-probs``: the model's ten-crop TTA probabilities on every Training image,
   in ``load_split`` order (``train_tta_probs.npy``, float32 ``(N, 7)``: soft labels for
   ``ml.train --soft-labels``, or one member of an ensemble to average);
5. time the classifier (``EmotionClassifier.predict``: 1, 8 and 16 faces, and one face with
   TTA) for this model and the shipped ``default``.

Written to ``--out`` (five or six files): ``NAME.keras``, ``history.csv``, ``curves.png``,
``report.json`` (settings, device, minutes, epochs, PublicTest accuracies, per-class
accuracy, confusion matrix, timings) and ``train_tta_probs.npy``; ``device.sh`` adds
``log.txt``. Steps 4 and 5 are skipped, and say so in the report, when the budget is spent.
``--limit`` (smoke tests) trains on N images and exports probabilities for the first N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MAX_FILE = 16 * 1024 * 1024  # the largest file that comes back from the GPU machine
BATCH = 1024  # faces per prediction call (plain); TTA makes ten views of each face,
TTA_BATCH = 102  # so 1020 views, padded to 1024 by the JAX classifier


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ml.training.device_run", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for what comes back ($OUT)")
    p.add_argument("--name", default="model", help="the model's file name in --out (NAME.keras)")
    p.add_argument("--data", default=None, help="FER-2013 folder (default: $FER2013 or ../shared/datasets/fer2013)")
    p.add_argument("--budget-s", type=float, default=540.0, help="seconds for everything, from --started-at")
    p.add_argument("--started-at", type=float, default=None, help="epoch seconds the budget counts from (default: now)")
    p.add_argument("--reserve-s", type=float, default=90.0, help="seconds kept from training for steps 2-5")
    p.add_argument("--train-probs", action="store_true", help="write the TTA probabilities on Training")
    p.add_argument("--no-recalibrate", action="store_true", help="skip the BatchNorm recalibration")
    p.add_argument("--limit", type=int, default=None, help="smoke tests: N training images (and N probabilities)")
    p.add_argument("--work", default=None, help="the training folder (default: a new one under /tmp)")
    p.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the arguments of python -m ml.train")
    args = p.parse_args(argv)
    if args.train_args[:1] == ["--"]:
        args.train_args = args.train_args[1:]
    return args


class Budget:
    def __init__(self, seconds, started_at=None):
        self.seconds, self.start = seconds, started_at or time.time()

    def used(self) -> float:
        return time.time() - self.start

    def left(self) -> float:
        return self.seconds - self.used()


def device_info() -> dict:
    import keras

    info = {"backend": keras.backend.backend(), "keras": keras.__version__, "python": platform.python_version()}
    if info["backend"] == "jax":
        import jax

        d = jax.devices()[0]
        info |= {"jax": jax.__version__, "platform": d.platform, "device": getattr(d, "device_kind", str(d))}
    return info


def time_classifier(clf, budget: Budget, rounds: int = 5, calls: int = 50) -> dict:
    """Median milliseconds per ``predict`` call for 1, 8 and 16 faces and one face with TTA."""
    faces = np.random.default_rng(0).integers(0, 256, (16, 48, 48), dtype=np.uint8)
    timings = {}
    for label, n, tta in (("1", 1, False), ("8", 8, False), ("16", 16, False), ("1_tta", 1, True)):
        clf.predict(faces[:n], tta=tta)  # compile
        per_round = []
        for _ in range(rounds):
            if budget.left() < 5:
                break
            t = time.perf_counter()
            for _ in range(calls):
                clf.predict(faces[:n], tta=tta)
            per_round.append((time.perf_counter() - t) / calls * 1000)
        if per_round:
            timings[f"ms_per_call_{label}"] = round(statistics.median(per_round), 3)
    return timings


def main(argv=None) -> int:
    args = parse_args(argv)
    budget = Budget(args.budget_s, args.started_at)
    out = Path(args.out)
    work = Path(args.work or tempfile.mkdtemp(prefix="device_run_"))
    out.mkdir(parents=True, exist_ok=True)
    if args.data:
        os.environ["FER2013"] = args.data

    import keras

    from . import data, metrics, recalibrate, train
    from .evaluate import predict_all
    from ..classifier import EmotionClassifier
    from ..labels import CLASSES

    report = {"device": device_info(), "budget_s": args.budget_s, "started_after_s": round(budget.used(), 1)}
    print(f"device: {report['device']}", flush=True)

    # 1. train
    limit = budget.left() - args.reserve_s
    if limit <= 0:
        print(f"error: no time left to train ({budget.left():.0f} s left, {args.reserve_s:.0f} s reserved)", file=sys.stderr)
        return 2
    train_argv = [*args.train_args, "--out", str(work), "--time-limit", f"{limit:.0f}", "--quiet", "--no-backup"]
    if args.limit:
        train_argv += ["--limit", str(args.limit)]
    print(f"train: python -m ml.train {' '.join(train_argv)}", flush=True)
    t = time.time()
    code = train.main(train_argv)
    report["train"] = {"argv": train_argv, "minutes": round((time.time() - t) / 60, 2), "exit": code}
    if code != 0 or not (work / "best.keras").is_file():
        print(f"error: training failed (exit {code})", file=sys.stderr)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        return 1
    config = json.loads((work / "config.json").read_text())
    epochs_done = sum(1 for _ in open(work / "history.csv")) - 1
    report["train"] |= {
        "command": config["command"], "xla": config["xla"], "epochs_asked": config["epochs"],
        "epochs_done": epochs_done, "best": json.loads((work / "best.json").read_text()),
    }
    for name in ("history.csv", "curves.png"):
        if (work / name).is_file():
            shutil.copy(work / name, out / name)

    # 2. BatchNorm recalibration, kept if PublicTest gets better; 3. PublicTest
    x_val, y_val = data.load_split(None, "PublicTest")
    model = keras.saving.load_model(work / "best.keras", compile=False)
    clf = EmotionClassifier(model, name=args.name)
    accuracy = float((predict_all(clf, x_val, BATCH).argmax(1) == y_val).mean())
    report["public_test_best_epoch"] = accuracy
    x_train = None
    if not args.no_recalibrate and recalibrate.batchnorm_layers(model):
        x_train, _ = data.load_split(None, "Training")
        t = time.time()
        recalibrate.recalibrate(model, x_train[: args.limit] if args.limit else x_train, batch_size=256)
        recalibrated = EmotionClassifier(model, name=args.name)
        after = float((predict_all(recalibrated, x_val, BATCH).argmax(1) == y_val).mean())
        kept = after > accuracy
        report["recalibration"] = {"public_test_before": accuracy, "public_test_after": after, "kept": kept,
                                   "seconds": round(time.time() - t, 1)}
        print(f"BatchNorm recalibration: PublicTest {accuracy:.4f} -> {after:.4f} ({'kept' if kept else 'dropped'})", flush=True)
        if kept:
            clf = recalibrated
        else:
            model = keras.saving.load_model(work / "best.keras", compile=False)
            clf = EmotionClassifier(model, name=args.name)
    path = out / f"{args.name}.keras"
    clf.model.save(path)
    report["model"] = {"file": path.name, "bytes": path.stat().st_size, "parameters": clf.model.count_params()}
    if path.stat().st_size > MAX_FILE:
        print(f"warning: {path.name} is {path.stat().st_size / 2**20:.1f} MiB, over the 16 MiB that come back", flush=True)

    for tta in (False, True):
        probs = predict_all(clf, x_val, TTA_BATCH if tta else BATCH, tta=tta)
        rep = metrics.report(y_val, probs)
        key = "public_test_tta" if tta else "public_test"
        report[key] = {k: rep[k] for k in ("n", "accuracy", "macro_f1", "confusion_matrix")} | {
            "per_class_accuracy": {c: round(rep["per_class"][c]["accuracy"], 4) for c in CLASSES}}
        print(f"PublicTest{' (ten-crop TTA)' if tta else ''}: accuracy {rep['accuracy']:.4f}, "
              f"macro-F1 {rep['macro_f1']:.4f} ({budget.used():.0f} s used)", flush=True)

    # 4. TTA probabilities on Training
    if args.train_probs:
        if budget.left() < 30:
            report["train_probs"] = "skipped: budget spent"
        else:
            if x_train is None:
                x_train, _ = data.load_split(None, "Training")
            x = x_train[: args.limit] if args.limit else x_train
            t = time.time()
            probs = predict_all(clf, x, TTA_BATCH, tta=True).astype(np.float32)
            np.save(out / "train_tta_probs.npy", probs)
            report["train_probs"] = {"file": "train_tta_probs.npy", "shape": list(probs.shape),
                                     "seconds": round(time.time() - t, 1)}
        print(f"Training TTA probabilities: {report['train_probs']}", flush=True)

    # 5. the classifier's speed on this device, this model and the shipped default
    report["timing"] = {}
    for name, timed in ((args.name, clf), ("default", None)):
        if budget.left() < 15:
            report["timing"][name] = "skipped: budget spent"
            continue
        timed = timed or EmotionClassifier.load("default")
        report["timing"][name] = time_classifier(timed, budget)
        print(f"classifier speed, {name}: {report['timing'][name]}", flush=True)

    report["seconds_used"] = round(budget.used(), 1)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"done in {budget.used():.0f} s of {args.budget_s:.0f}; wrote {sorted(p.name for p in out.iterdir())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
