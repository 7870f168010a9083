"""Milliseconds per training step of ml.train's model, with each kind of augmentation.

    python bench/train_speed.py [--arch vgg] [--arch-args '{"width": 32, "dense": 512}'] \\
        [--batch-size 128] [--steps 16] [--rounds 3] [--xla auto|on|off] [--data FOLDER]

Variants, interleaved round by round so that all see the same machine load:

* ``none``   the network alone, no augmentation;
* ``keras``  the augmentation ml.train had before: Keras's RandomFlip, RandomRotation,
             RandomTranslation, RandomZoom and RandomErasing layers (rotation 10,
             shift 0.2, zoom 0.2, erase 0.5);
* ``ours``   ml.train's model as it is (``ml.training.train.training_model``): the
             ``Augmentation`` layer, same magnitudes.

Then the two augmentations in front of a linear classifier, where they are most of the step. Each variant trains on the first Training images of FER-2013 (random pixels if the data
set is missing; the speed does not depend on them). Prints, per variant, whether Keras
compiled the step with XLA and the median over rounds of the mean ms per step.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ml.training import architectures, data, train  # noqa: E402
from ml.training.augment import augmenter  # noqa: E402


def keras_layers_augmentation(seed=1):
    """The augmentation of ml.train before the Augmentation layer (Keras 3 preprocessing layers)."""
    from keras import layers

    return keras.Sequential([
        keras.Input(architectures.INPUT_SHAPE),
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(10 / 360.0, fill_mode="reflect", seed=seed),
        layers.RandomTranslation(0.2, 0.2, fill_mode="reflect", seed=seed),
        layers.RandomZoom((-0.2, 0.2), fill_mode="reflect", seed=seed),
        layers.RandomErasing(factor=(0.5, 0.5), scale=(0.02, 0.2), fill_value=None, value_range=(0, 255), seed=seed),
    ], name="keras_augment")


class StepTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self.t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self.t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="vgg")
    p.add_argument("--arch-args", default='{"width": 32, "dense": 512}')
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=16, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--xla", default="auto", choices=("auto", "on", "off"), help="jit_compile of every variant")
    p.add_argument("--variants", default="none,keras,ours")
    p.add_argument("--data", default=None, help="FER-2013 folder (default: $FER2013 or ../shared/datasets/fer2013)")
    a = p.parse_args()

    n = a.batch_size * a.steps
    try:
        x, y = data.load_split(a.data, "Training")
        x, y = x[:n], y[:n]
        source = "FER-2013 Training"
    except data.DatasetError:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8), rng.integers(0, 7, n)
        source = "random pixels"
    x = x[..., None].astype("float32")
    targets = np.eye(7, dtype="float32")[y]
    jit = {"auto": "auto", "on": True, "off": False}[a.xla]
    args = train.parse_args(["--arch", a.arch, "--arch-args", a.arch_args, "--out", "unused", "--batch-size", str(a.batch_size)])

    models = {}
    for variant in a.variants.split(","):
        keras.utils.set_random_seed(1)
        net = architectures.build(a.arch, **json.loads(a.arch_args))
        if variant == "ours":
            model = train.training_model(net, args, a.steps, jit_compile=jit)
        else:
            inputs = keras.Input(architectures.INPUT_SHAPE)
            model = keras.Model(inputs, net(keras_layers_augmentation()(inputs) if variant == "keras" else inputs))
            model.compile(train.make_optimizer(args, a.steps), keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                          metrics=["accuracy"], jit_compile=jit)
        model.fit(x[: 2 * a.batch_size], targets[: 2 * a.batch_size], batch_size=a.batch_size, epochs=1, verbose=0)
        models[variant] = model

    ms = {v: [] for v in models}
    for _ in range(a.rounds):
        for variant, model in models.items():
            timer = StepTimer()
            model.fit(x, targets, batch_size=a.batch_size, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
            ms[variant].append(statistics.mean(timer.times[1:]) * 1000)  # the first step of a fit call sets up

    # the augmentations alone: in front of a linear classifier, so that they are most of the step
    alone, heads = {}, {}
    for variant, layer in (("keras", keras_layers_augmentation()), ("ours", augmenter())):
        inputs = keras.Input(architectures.INPUT_SHAPE)
        head = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(layer(inputs))))
        head.compile("sgd", "categorical_crossentropy", jit_compile=jit)
        head.fit(x[: 2 * a.batch_size], targets[: 2 * a.batch_size], batch_size=a.batch_size, verbose=0)
        heads[variant], alone[variant] = head, []
    for _ in range(a.rounds):
        for variant, head in heads.items():
            timer = StepTimer()
            head.fit(x, targets, batch_size=a.batch_size, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
            alone[variant].append(statistics.mean(timer.times[1:]) * 1000)

    print(f"{a.arch} {a.arch_args}, batch {a.batch_size}, {a.steps} steps x {a.rounds} rounds on {source}; "
          f"Keras {keras.__version__}, {keras.backend.backend()} backend, {os.cpu_count()} CPU cores, --xla {a.xla}")
    for variant, model in models.items():
        m = statistics.median(ms[variant])
        print(f"  {variant:<6} XLA {str(model.jit_compile):<5}  {m:8.1f} ms/step  {a.batch_size / m * 1000:7.0f} images/s"
              f"  (rounds: {', '.join(f'{v:.0f}' for v in ms[variant])})")
    for variant, times in alone.items():
        print(f"  augmentation + linear classifier, {variant:<5} {statistics.median(times):7.1f} ms/step"
              f"  (rounds: {', '.join(f'{v:.1f}' for v in times)})")


if __name__ == "__main__":
    main()
