"""Expression CNNs, registered by name so that the seed papers' comparison can be re-run.

Every builder returns an uncompiled ``keras.Model`` that takes ``(N, 48, 48, 1)``
float pixels in ``[0, 255]`` (it rescales them itself) and returns ``(N, 7)``
softmax probabilities in the order of :data:`ml.labels.CLASSES`.

* ``fc``       fully connected baseline
* ``shallow``  [Conv-BN-ReLU-Dropout-MaxPool] x 2 + [Dense-BN-ReLU-Dropout] x 1
* ``deep``     [Conv-BN-ReLU-Dropout-MaxPool] x 4 + [Dense-BN-ReLU-Dropout] x 2
* ``deeper``   [Conv-BN-ReLU-Dropout-MaxPool] x 5 + [Dense-BN-ReLU-Dropout] x 2
* ``vgg``      VGG-style: stages of two 3x3 convolutions, BN, max-pooling
* ``realtime`` compact residual net of separable convolutions, built for a CPU
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from ..labels import CLASSES, IMAGE_SIZE

ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {}
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)


def register(name: str):
    def wrap(fn):
        ARCHITECTURES[name] = fn
        return fn

    return wrap


def build(name: str, **kwargs) -> keras.Model:
    """Build the architecture registered as ``name``."""
    try:
        fn = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}: expected one of {', '.join(sorted(ARCHITECTURES))}") from None
    return fn(**kwargs)


def _input():
    inputs = keras.Input(INPUT_SHAPE, name="face")
    return inputs, layers.Rescaling(1.0 / 255, name="rescale")(inputs)


def _head(x, inputs, name):
    outputs = layers.Dense(len(CLASSES), activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _dense_block(x, units, dropout):
    x = layers.Dense(units, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    return layers.Dropout(dropout)(x)


def _paper_cnn(name, conv, dense, kernel=3, conv_dropout=0.25, dense_dropout=0.5):
    """``[Conv-BN-ReLU-Dropout-MaxPool] x M + [Dense-BN-ReLU-Dropout] x N``."""
    inputs, x = _input()
    for filters in conv:
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(conv_dropout)(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    for units in dense:
        x = _dense_block(x, units, dense_dropout)
    return _head(x, inputs, name)


@register("fc")
def fc(units=(1024, 512), dropout=0.5) -> keras.Model:
    inputs, x = _input()
    x = layers.Flatten()(x)
    for u in units:
        x = _dense_block(x, u, dropout)
    return _head(x, inputs, "fc")


@register("shallow")
def shallow() -> keras.Model:
    return _paper_cnn("shallow", conv=(64, 128), dense=(512,), kernel=5)


@register("deep")
def deep() -> keras.Model:
    return _paper_cnn("deep", conv=(64, 128, 512, 512), dense=(256, 512))


@register("deeper")
def deeper() -> keras.Model:
    return _paper_cnn("deeper", conv=(64, 128, 256, 512, 512), dense=(256, 512))


@register("vgg")
def vgg(width=64, dense=1024, dropout=0.4) -> keras.Model:
    """VGG-style: four stages of two 3x3 Conv-BN-ReLU and a max-pool, two dense layers."""
    inputs, x = _input()
    for stage, mult in enumerate((1, 2, 4, 8)):
        for _ in range(2):
            x = layers.Conv2D(width * mult, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        if stage >= 2:
            x = layers.Dropout(0.1 * stage)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = _dense_block(x, dense, dropout)
    return _head(x, inputs, "vgg")


@register("realtime")
def realtime(width=32, dropout=0.3) -> keras.Model:
    """Compact residual net of depthwise-separable convolutions, fast on a CPU.

    A plain 3x3 stem at full resolution, then three residual stages that each halve
    the resolution, global average pooling and a dense head.
    """
    inputs, x = _input()
    for filters in (width, width):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    for filters in (width * 2, width * 4, width * 8):
        shortcut = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        shortcut = layers.BatchNormalization()(shortcut)
        for i in range(2):
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            if i == 0:
                x = layers.ReLU()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add()([x, shortcut])
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return _head(x, inputs, "realtime")


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass (convolutions and dense layers)."""
    total = 0
    for layer in _flat_layers(model):
        if isinstance(layer, (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D, layers.Dense)):
            out = layer.output.shape
            spatial = 1
            for d in out[1:-1]:
                spatial *= int(d)
            if isinstance(layer, layers.Dense):
                total += int(layer.kernel.shape[0]) * int(layer.kernel.shape[1]) * spatial
            elif isinstance(layer, layers.SeparableConv2D):
                dk = layer.depthwise_kernel.shape
                pk = layer.pointwise_kernel.shape
                cin = int(dk[2])
                # depthwise runs at the output resolution for stride 1
                total += spatial * (int(dk[0]) * int(dk[1]) * cin * int(dk[3]) + int(pk[2]) * int(pk[3]))
            elif isinstance(layer, layers.DepthwiseConv2D):
                k = layer.kernel.shape
                total += spatial * int(k[0]) * int(k[1]) * int(k[2]) * int(k[3])
            else:
                k = layer.kernel.shape
                total += spatial * int(k[0]) * int(k[1]) * int(k[2]) * int(k[3])
    return total


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer
