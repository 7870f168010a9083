"""Recompute a model's BatchNorm statistics on un-augmented Training images.

    python -m ml.recalibrate --model runs/vgg/best.keras --out runs/vgg/recalibrated.keras

During training the BatchNorm layers keep running means and variances of augmented
batches (rotated, shifted, zoomed, partly erased faces, with dropout on), and with
``--ema`` of weights other than the averaged ones that get saved. Neither is what the
shipped model sees: whole, plain faces. This pass runs the Training images once through
the model with dropout off and sets each BatchNorm layer's statistics to their average
over all batches (as ``torch.optim.swa_utils.update_bn`` does). Weights are unchanged.
Only ``Training`` is read; ``--check`` prints PublicTest accuracy before and after.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m ml.recalibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a shipped model name or a .keras path")
    p.add_argument("--out", required=True, help="the recalibrated .keras file to write")
    p.add_argument("--data", default=None, help="FER-2013 folder or fer2013.csv (default: $FER2013 or ../shared/datasets/fer2013)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--limit", type=int, default=None, help="use only the first N Training images (smoke tests)")
    p.add_argument("--check", action="store_true", help="print PublicTest accuracy before and after")
    return p.parse_args(argv)


def all_layers(model) -> list:
    """Every layer of a model, nested models' layers included (depth first, through the public ``layers``)."""
    found, stack = [], list(reversed(model.layers))
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(reversed(getattr(layer, "layers", None) or []))
    return found


def batchnorm_layers(model):
    import keras

    return [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def recalibrate(model, images: np.ndarray, batch_size: int = 256, seed: int = 0) -> int:
    """Set every BatchNorm layer's moving statistics to their mean over ``images``
    (uint8 or float ``(N, 48, 48)`` or ``(N, 48, 48, 1)`` pixels in [0, 255]), with dropout off.

    The images go in shuffled batches (``seed``): a batch's variance is taken about its own
    mean, so batches of one class (the folder layout's order) would underestimate it.
    Returns the number of batches. The model is changed in place; its weights are not."""
    import keras

    if len(images) == 0:
        raise ValueError("no images to recalibrate on")
    bns = batchnorm_layers(model)
    if not bns:
        raise ValueError(f"model {model.name!r} has no BatchNormalization layer")
    dropouts = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.Dropout)]
    saved = [(layer, layer.momentum) for layer in bns], [(layer, layer.rate) for layer in dropouts]
    x = np.asarray(images, dtype="float32")
    if x.ndim == 3:
        x = x[..., None]
    x = x[np.random.default_rng(seed).permutation(len(x))]
    n_batches = 0
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for k, start in enumerate(range(0, len(x), batch_size)):
            for layer in bns:  # a running mean: batch k weighs 1/(k+1)
                layer.momentum = k / (k + 1)
            model(x[start : start + batch_size], training=True)
            n_batches += 1
    finally:
        for layer, m in saved[0]:
            layer.momentum = m
        for layer, r in saved[1]:
            layer.rate = r
    return n_batches


def public_test_accuracy(model, x, y) -> float:
    probs = model.predict(x[..., None].astype("float32"), batch_size=512, verbose=0)
    return float((probs.argmax(1) == y).mean())


def main(argv=None) -> int:
    args = parse_args(argv)
    from . import data
    from ..registry import load_keras_model, resolve_model

    try:
        path = resolve_model(args.model)
        model = load_keras_model(path)
        x, _ = data.load_split(args.data, "Training")
        val = data.load_split(args.data, "PublicTest") if args.check else None
    except (data.DatasetError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        x = x[: args.limit]
    if val is not None:
        print(f"PublicTest accuracy before: {public_test_accuracy(model, *val):.4f}", flush=True)
    t0 = time.time()
    try:
        n = recalibrate(model, x, args.batch_size)
    except ValueError as e:
        print(f"error: {path}: {e}", file=sys.stderr)
        return 2
    print(f"{len(batchnorm_layers(model))} BatchNorm layers recalibrated on {len(x)} Training images "
          f"({n} batches, {time.time() - t0:.0f} s)", flush=True)
    if val is not None:
        print(f"PublicTest accuracy after:  {public_test_accuracy(model, *val):.4f}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
