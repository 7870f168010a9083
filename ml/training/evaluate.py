"""Evaluate an expression model on a FER-2013 split.

    python -m ml.evaluate --model default --split PublicTest --out reports/default
    python -m ml.evaluate --model runs/vgg/best.keras --split PrivateTest --tta --out reports/final

Prints accuracy, macro-F1 and per-class accuracy, and writes to ``--out``:
``report_<split>[_tta].json`` and ``confusion_<split>[_tta].png`` (row-normalised).
Choose models on PublicTest; report PrivateTest once, for the model you ship.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def predict_all(clf, x, batch_size: int = 256, tta: bool = False):
    """``clf``'s probabilities for all of ``x`` (uint8 ``(N, 48, 48)``), ``batch_size`` faces at a time."""
    import numpy as np

    return np.concatenate([clf.predict(x[i : i + batch_size], tta=tta) for i in range(0, len(x), batch_size)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="shipped model name or .keras path (default: the shipped default)")
    p.add_argument("--data", default=None, help="FER-2013 folder or fer2013.csv (default: $FER2013 or ../shared/datasets/fer2013)")
    p.add_argument("--split", default="PublicTest", choices=("Training", "PublicTest", "PrivateTest"))
    p.add_argument("--tta", action="store_true", help="test-time augmentation: ten crops and their flips")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--out", default=None, help="folder for the JSON report and the confusion matrix PNG")
    args = p.parse_args(argv)

    from . import data, metrics
    from ..classifier import EmotionClassifier
    from ..labels import CLASSES

    try:
        x, y = data.load_split(args.data, args.split)
    except (data.DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        clf = EmotionClassifier.load(args.model)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import numpy as np

    t0 = time.perf_counter()
    probs = predict_all(clf, x, args.batch_size, tta=args.tta)
    seconds = time.perf_counter() - t0
    rep = metrics.report(y, probs)
    rep.update(model=clf.name, split=args.split, tta=args.tta, seconds=round(seconds, 2))

    tag = f"{args.split}{'_tta' if args.tta else ''}"
    print(f"{clf.name} on {args.split} ({rep['n']} faces{', ten-crop TTA' if args.tta else ''}):")
    print(f"  accuracy {rep['accuracy']:.4f}   macro-F1 {rep['macro_f1']:.4f}")
    for c in CLASSES:
        pc = rep["per_class"][c]
        print(f"  {c:<9} accuracy {pc['accuracy']:.3f}  F1 {pc['f1']:.3f}  (n={pc['support']})")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"report_{tag}.json").write_text(json.dumps(rep, indent=2))
        metrics.plot_confusion(
            rep["confusion_matrix_normalised"], out / f"confusion_{tag}.png",
            title=f"{clf.name}, {args.split}{' (TTA)' if args.tta else ''}: {rep['accuracy']:.1%}",
        )
        print(f"wrote {out / f'report_{tag}.json'} and {out / f'confusion_{tag}.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
