"""Training-time augmentation as in the FER-2013 literature.

Horizontal flip, rotation (about +-10 degrees), shifts and zoom (about +-20 %),
and random erasing. It is a Keras model of preprocessing layers that runs in the
training graph, on any backend, and is left out of the model that gets shipped.
"""

from __future__ import annotations

import keras
from keras import layers

from .architectures import INPUT_SHAPE


def augmenter(
    rotation: float = 10.0,
    shift: float = 0.2,
    zoom: float = 0.2,
    erase: float = 0.5,
    flip: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """Build the augmentation pipeline; ``rotation`` in degrees, ``shift``/``zoom`` as fractions."""
    stack: list[layers.Layer] = [keras.Input(INPUT_SHAPE)]
    if flip:
        stack.append(layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        stack.append(layers.RandomRotation(rotation / 360.0, fill_mode="reflect", seed=seed))
    if shift:
        stack.append(layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed))
    if zoom:
        stack.append(layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed))
    if erase:
        # Zhong et al. (2020): erase a rectangle of 2-20 % of the image with probability `erase`
        stack.append(
            layers.RandomErasing(factor=(erase, erase), scale=(0.02, 0.2), fill_value=None, value_range=(0, 255), seed=seed)
        )
    return keras.Sequential(stack, name="augment")
