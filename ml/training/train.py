"""Train an expression CNN on FER-2013.

    python -m ml.train --arch vgg --epochs 40 --out runs/vgg

Trains on ``Training`` and validates on ``PublicTest`` (epochs and checkpoints are
chosen there; ``PrivateTest`` is never read here). The output folder gets:

* ``best.keras``   the model of the epoch with the best PublicTest accuracy
* ``last.keras``   the model after the last epoch
* ``history.csv``  loss, accuracy and learning rate of every epoch
* ``curves.png``   loss and accuracy curves
* ``config.json``  the command's settings, the Keras backend and whether XLA compiled the training step
* ``backup/``      the training state: the same command resumes an interrupted run, and a
                   larger ``--epochs`` continues a finished one (not with ``--no-backup``)
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np


def parse_args(argv=None):
    from .architectures import ARCHITECTURES  # noqa: F401  (imports keras)

    p = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="vgg", choices=sorted(ARCHITECTURES), help="architecture by name")
    p.add_argument("--arch-args", default="{}", help='JSON keyword arguments of the architecture, e.g. \'{"width": 32}\'')
    p.add_argument("--data", default=None, help="FER-2013 folder or fer2013.csv (default: $FER2013 or ../shared/datasets/fer2013)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"))
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--schedule", default="cosine", choices=("cosine", "onecycle", "plateau", "constant"))
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up (cosine)")
    p.add_argument("--ema", type=float, default=0.0,
                   help="keep an exponential moving average of the weights with this momentum (e.g. 0.999); "
                        "PublicTest and the saved models then use the averaged weights")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--rotation", type=float, default=10.0, help="max rotation, degrees")
    p.add_argument("--shift", type=float, default=0.2, help="max shift, fraction of the size")
    p.add_argument("--zoom", type=float, default=0.2, help="max zoom, fraction")
    p.add_argument("--erase", type=float, default=0.5, help="probability of random erasing")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flips")
    p.add_argument("--class-weights", action="store_true", help="weight classes by inverse frequency (rare disgust)")
    p.add_argument("--init", default=None, help="start from the weights of this .keras model (fine-tuning)")
    p.add_argument("--soft-labels", default=None, help=".npy of teacher probabilities (N_train, 7) to distil from")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (smoke tests)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds: end training early, after the last epoch that fits (counted from the start, "
                        "data loading included); the models of the finished epochs are saved as usual")
    p.add_argument("--no-backup", action="store_true",
                   help="no training state saved each epoch (no resume) and the curves drawn at the end only: "
                        "for short epochs (a GPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bar: one line per epoch")
    return p.parse_args(argv)


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate: linear rise to ``peak`` over 30 % of the steps, then cosine to zero."""

    def __init__(self, peak, total_steps):
        self.peak, self.total_steps = float(peak), int(total_steps)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        up = max(1.0, 0.3 * self.total_steps)
        rise = self.peak * (0.04 + 0.96 * step / up)
        t = ops.clip((step - up) / max(1.0, self.total_steps - up), 0.0, 1.0)
        fall = self.peak * 0.5 * (1 + ops.cos(math.pi * t))
        return ops.where(step < up, rise, fall)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps}


def training_model(net, args, steps_per_epoch, jit_compile="auto") -> keras.Model:
    """The model that is trained, compiled: the augmentation (active in training only) in front of ``net``.

    Everything in it compiles with XLA on every backend (tests/test_ml_augment.py), so
    ``jit_compile="auto"`` compiles the training step on a GPU; only ``net`` is saved."""
    from .architectures import INPUT_SHAPE
    from .augment import augmenter

    aug = augmenter(args.rotation, args.shift, args.zoom, args.erase, not args.no_flip, seed=args.seed)
    inputs = keras.Input(INPUT_SHAPE)
    model = keras.Model(inputs, net(aug(inputs)), name=f"train_{net.name}")
    model.compile(
        optimizer=make_optimizer(args, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    return model


class TimeLimit(keras.callbacks.Callback):
    """Stop training when the next epoch would end after ``limit`` seconds from ``start``, or at
    once when ``limit`` has passed. The next epoch is judged by the slowest so far, not counting
    the first (which includes compiling) once there are others."""

    def __init__(self, limit: float, start: float):
        super().__init__()
        self.limit, self.start = limit, start
        self.durations, self.epoch_start, self.stopped_at = [], start, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if time.time() - self.start > self.limit:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        self.durations.append(now - self.epoch_start)
        if now - self.start + max(self.durations[1:] or self.durations) > self.limit:
            self.model.stop_training = True
        if self.model.stop_training and self.stopped_at is None:
            self.stopped_at = epoch + 1
            print(f"\ntime limit: stopped after epoch {epoch + 1} ({now - self.start:.0f} s of {self.limit:.0f} s; "
                  f"the learning-rate schedule was set for more epochs)", flush=True)


def make_optimizer(args, steps_per_epoch):
    import keras

    total = args.epochs * steps_per_epoch
    if args.schedule == "cosine":
        warm = int(args.warmup_epochs * steps_per_epoch)
        lr = keras.optimizers.schedules.CosineDecay(
            args.lr * 0.1 if warm else args.lr, max(1, total - warm), alpha=0.0,
            warmup_target=args.lr if warm else None, warmup_steps=warm,
        )
    elif args.schedule == "onecycle":
        lr = OneCycle(args.lr, total)
    else:
        lr = args.lr
    ema = {"use_ema": True, "ema_momentum": args.ema} if args.ema else {}
    if args.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay, **ema)
    return keras.optimizers.AdamW(lr, weight_decay=args.weight_decay, **ema)


def plot_history(history_csv: Path, out_png: Path) -> None:
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        ax.plot(epochs, [float(r[key]) for r in rows], label="Training (augmented)")
        if f"val_{key}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label="PublicTest")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    from . import architectures, data
    from ..labels import CLASSES

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    try:
        arch_args = json.loads(args.arch_args)
    except json.JSONDecodeError as e:
        print(f"error: --arch-args is not JSON: {e}", file=sys.stderr)
        return 2

    t0 = time.time()
    try:
        x_train, y_train = data.load_split(args.data, "Training")
        x_val, y_val = data.load_split(args.data, "PublicTest")
    except (data.DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:  # a random subset, every class in it
        rng = np.random.default_rng(args.seed)
        keep = rng.permutation(len(x_train))[: args.limit]
        x_train, y_train = x_train[keep], y_train[keep]
        keep = rng.permutation(len(x_val))[: args.limit]
        x_val, y_val = x_val[keep], y_val[keep]
    print(f"data: {len(x_train)} Training, {len(x_val)} PublicTest images ({time.time() - t0:.1f} s)", flush=True)

    n = len(CLASSES)
    targets = np.eye(n, dtype="float32")[y_train]
    if args.soft_labels:
        soft = np.load(args.soft_labels).astype("float32")
        if soft.shape != targets.shape:
            print(f"error: {args.soft_labels}: expected shape {targets.shape}, got {soft.shape}", file=sys.stderr)
            return 2
        targets = soft
    x_train = x_train[..., None].astype("float32")
    x_val = x_val[..., None].astype("float32")
    val_targets = np.eye(n, dtype="float32")[y_val]

    if args.init:
        net = keras.saving.load_model(args.init, compile=False)
    else:
        net = architectures.build(args.arch, **arch_args)
    try:
        model = training_model(net, args, math.ceil(len(x_train) / args.batch_size))
    except ValueError as e:  # augmentation magnitudes out of range
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"model: {net.name} {f'from {args.init}' if args.init else arch_args}, {net.count_params():,} parameters, "
        f"{architectures.count_macs(net) / 1e6:.1f} M MACs per face; {keras.backend.backend()} backend, "
        f"training step compiled with XLA: {model.jit_compile}",
        flush=True,
    )
    command = shlex.join(["python", "-m", "ml.train", *(argv or sys.argv[1:])])
    setup = {"command": command, "backend": keras.backend.backend(), "xla": bool(model.jit_compile)}
    (out / "config.json").write_text(json.dumps(vars(args) | setup, indent=2))

    history_csv = out / "history.csv"
    best_file = out / "best.keras"

    class SaveNet(keras.callbacks.Callback):
        """Save the shipped part (without augmentation): best on PublicTest, and last."""

        def __init__(self):
            super().__init__()
            self.best = -1.0
            state = out / "best.json"
            if state.exists():
                self.best = json.loads(state.read_text())["val_accuracy"]

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            net.save(out / "last.keras")
            acc = float(logs.get("val_accuracy", -1))
            if acc > self.best:
                self.best = acc
                net.save(best_file)
                (out / "best.json").write_text(json.dumps({"epoch": epoch + 1, "val_accuracy": acc}))
                print(f"\nepoch {epoch + 1}: PublicTest accuracy {acc:.4f}, saved {best_file}", flush=True)
            if not args.no_backup:
                plot_history(history_csv, out / "curves.png")

    callbacks = [keras.callbacks.CSVLogger(str(history_csv), append=True)]
    if not args.no_backup:  # resume, or extend
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(out / "backup"), delete_checkpoint=False))
    if args.ema:  # validate, and save, the averaged weights; the backup above keeps the raw ones
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(SaveNet())
    if args.time_limit:  # after SaveNet: the epoch it stops after is saved
        callbacks.append(TimeLimit(args.time_limit, t0))
    if args.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=4, min_lr=1e-6))
    model.fit(
        x_train,
        targets,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_val, val_targets),
        class_weight=data.class_weights(y_train) if args.class_weights else None,
        callbacks=callbacks,
        verbose=2 if args.quiet else 1,
        shuffle=True,
    )
    plot_history(history_csv, out / "curves.png")
    print(f"done in {(time.time() - t0) / 60:.1f} min; best PublicTest: {(out / 'best.json').read_text()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
