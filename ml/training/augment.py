"""Training-time augmentation as in the FER-2013 literature, compiled into the training step.

Horizontal flip, rotation (about +-10 degrees), shifts and zoom (about +-20 %),
and random erasing, all in one layer, :class:`Augmentation`: per image it draws one
random affine transform (flip, rotation, shift and zoom together, about the image
centre) and resamples the image once (bilinear, reflecting at the borders), then
erases a random rectangle with probability ``erase``.

Why one layer of plain ``keras.ops``: Keras's ``RandomRotation``, ``RandomTranslation``
and ``RandomZoom`` are marked as not XLA-compatible, and one of them in a model makes
Keras run the whole training step op by op (``model.jit_compile`` False): 4 s a step on
an H100. ``keras.ops.image.affine_transform`` is no way out on TensorFlow, whose XLA
cannot compile its kernel (ImageProjectiveTransformV3). So the resampling here is
bilinear interpolation written with ``keras.ops`` (a gather of the four neighbours),
the same values as ``affine_transform(..., "bilinear", fill_mode="reflect")`` inside
the image, and XLA compiles it on every backend (tests/test_ml_augment.py checks it).

The layer passes images through unchanged at inference (``training=False``), and
training saves the network without it: the shipped models never contain it.
"""

from __future__ import annotations

import math

import keras
from keras import ops

MAX_VALUE = 255.0  # pixels are floats in [0, MAX_VALUE] (the models rescale them themselves)
ERASE_SIDE = (0.02, 0.2)  # erased rectangle: each side sqrt(U(0.02, 0.2)) of the image's, so 2-20 % of its area


@keras.saving.register_keras_serializable(package="ml")
class Augmentation(keras.layers.Layer):
    """Random flip, rotation, shift and zoom as one affine per image, then random erasing.

    ``rotation``: maximum angle in degrees (uniform in +-rotation); ``shift``: maximum
    shift, a fraction of the height and width (each uniform in +-shift); ``zoom``: the
    scale varies uniformly in ``1 +- zoom``; ``erase``: probability of erasing a
    rectangle (2-20 % of the image, Zhong et al. 2020) with uniform noise in [0, 255];
    ``flip``: a horizontal flip with probability 1/2. Input ``(N, H, W, C)`` floats in
    [0, 255] (channels last); the output has the same shape and range.
    """

    def __init__(self, rotation=10.0, shift=0.2, zoom=0.2, erase=0.5, flip=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, top in (("rotation", rotation, 180.0), ("shift", shift, 1.0), ("zoom", zoom, 0.99), ("erase", erase, 1.0)):
            if not 0.0 <= float(value) <= top:
                raise ValueError(f"augmentation {name}={value}: expected a number in [0, {top}]")
        self.rotation, self.shift, self.zoom, self.erase = float(rotation), float(shift), float(zoom), float(erase)
        self.flip = bool(flip)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        x = ops.cast(images, self.compute_dtype)
        if self.flip or self.rotation or self.shift or self.zoom:
            x = warp(x, self.random_transforms(ops.shape(x)[0], x.shape[1], x.shape[2]))
        if self.erase:
            x = self.random_erasing(x)
        return x

    def random_transforms(self, n, height, width):
        """``(n, 8)`` affine transforms in the form of ``keras.ops.image.affine_transform``:
        each maps an output pixel ``(x, y)`` to the input point it is read from."""
        u = keras.random.uniform((n, 5), -1.0, 1.0, dtype=self.compute_dtype, seed=self.seed_generator)
        f = ops.where(u[:, 0] < 0, -1.0, 1.0) if self.flip else ops.ones_like(u[:, 0])
        angle = u[:, 1] * (self.rotation * math.pi / 180.0)
        tx, ty = u[:, 2] * (self.shift * width), u[:, 3] * (self.shift * height)
        s = 1.0 + u[:, 4] * self.zoom  # > 1 reads a larger area: zooms out
        cos, sin = ops.cos(angle), ops.sin(angle)
        # input = flip(rotate(s * (output - centre) - shift)) + centre
        a0, a1, b0, b1 = f * s * cos, -f * s * sin, s * sin, s * cos
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        a2 = f * (-cos * tx + sin * ty) + cx - a0 * cx - a1 * cy
        b2 = -sin * tx - cos * ty + cy - b0 * cx - b1 * cy
        zero = ops.zeros_like(a0)
        return ops.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)

    def random_erasing(self, x):
        n, height, width = ops.shape(x)[0], x.shape[1], x.shape[2]
        u = keras.random.uniform((n, 5), 0.0, 1.0, dtype=self.compute_dtype, seed=self.seed_generator)
        lo, hi = ERASE_SIDE
        eh = ops.sqrt(lo + (hi - lo) * u[:, 0]) * height
        ew = ops.sqrt(lo + (hi - lo) * u[:, 1]) * width
        y0 = u[:, 2] * (height - eh)
        x0 = u[:, 3] * (width - ew)
        ys = ops.arange(height, dtype=self.compute_dtype)[None, :, None]
        xs = ops.arange(width, dtype=self.compute_dtype)[None, None, :]
        inside = (
            (ys >= y0[:, None, None]) & (ys < (y0 + eh)[:, None, None])
            & (xs >= x0[:, None, None]) & (xs < (x0 + ew)[:, None, None])
            & (u[:, 4] < self.erase)[:, None, None]
        )
        noise = keras.random.uniform(ops.shape(x), 0.0, MAX_VALUE, dtype=self.compute_dtype, seed=self.seed_generator)
        return ops.where(inside[..., None], noise, x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {
            "rotation": self.rotation, "shift": self.shift, "zoom": self.zoom,
            "erase": self.erase, "flip": self.flip, "seed": self.seed,
        }


def warp(images, transforms):
    """Resample ``(N, H, W, C)`` images by ``(N, 8)`` affine transforms (as
    ``keras.ops.image.affine_transform``, whose last two entries must be 0), bilinear,
    reflecting at the borders (``d c b a | a b c d | d c b a``); XLA-compatible."""
    n, height, width, channels = ops.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
    dtype = images.dtype
    ys = ops.arange(height, dtype=dtype)[None, :, None]
    xs = ops.arange(width, dtype=dtype)[None, None, :]
    t = [transforms[:, i][:, None, None] for i in range(6)]
    x_in = t[0] * xs + t[1] * ys + t[2]  # (N, H, W)
    y_in = t[3] * xs + t[4] * ys + t[5]
    x0, y0 = ops.floor(x_in), ops.floor(y_in)
    fx, fy = (x_in - x0)[..., None], (y_in - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    cols = [_reflect(x0, width), _reflect(x0 + 1, width)]
    rows = [_reflect(y0, height) * width, _reflect(y0 + 1, height) * width]
    base = (ops.arange(n, dtype="int32") * (height * width))[:, None, None]
    flat = ops.reshape(images, (-1, channels))

    def read(row, col):
        return ops.take(flat, ops.reshape(base + row + col, (-1,)), axis=0)

    top = read(rows[0], cols[0]) * ops.reshape(1 - fx, (-1, 1)) + read(rows[0], cols[1]) * ops.reshape(fx, (-1, 1))
    bottom = read(rows[1], cols[0]) * ops.reshape(1 - fx, (-1, 1)) + read(rows[1], cols[1]) * ops.reshape(fx, (-1, 1))
    out = top * ops.reshape(1 - fy, (-1, 1)) + bottom * ops.reshape(fy, (-1, 1))
    return ops.reshape(out, (-1, height, width, channels))


def _reflect(index, size):
    """Integer pixel indices folded into ``[0, size)`` by reflection, edge pixels repeated."""
    m = ops.mod(index, 2 * size)
    return ops.where(m < size, m, 2 * size - 1 - m)


def augmenter(
    rotation: float = 10.0,
    shift: float = 0.2,
    zoom: float = 0.2,
    erase: float = 0.5,
    flip: bool = True,
    seed: int | None = None,
) -> Augmentation:
    """The augmentation layer; ``rotation`` in degrees, ``shift``/``zoom`` as fractions."""
    return Augmentation(rotation, shift, zoom, erase, flip, seed=seed, name="augment")
