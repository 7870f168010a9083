"""Training and evaluating the expression CNNs on FER-2013 (Keras 3 only: TensorFlow here, JAX on a GPU).

    data.py           FER-2013 as a folder of images or the original fer2013.csv
    architectures.py  the CNNs, registered by name
    augment.py        flip, rotation, shift, zoom (one affine per image), random erasing; XLA-compatible
    train.py          ``python -m ml.train``: checkpoints, resume, fine-tuning, EMA, soft labels
    recalibrate.py    ``python -m ml.recalibrate``: BatchNorm statistics on plain Training images
    evaluate.py       ``python -m ml.evaluate``: accuracy, per-class accuracy, macro-F1, confusion matrix
    metrics.py        the metrics and the confusion-matrix plot
    device_run.py     one run on the GPU machine within a time budget (device.sh installs and calls it)

Models are trained on ``Training``, chosen on ``PublicTest``, reported once on ``PrivateTest``.
Nothing here is imported by the inference API at ``ml``'s top.
"""
