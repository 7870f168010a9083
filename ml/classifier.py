"""EmotionClassifier: a trained expression CNN behind a fast, checked ``predict``."""

from __future__ import annotations

import os
import threading

import cv2
import numpy as np

from .labels import CLASSES, IMAGE_SIZE
from .registry import load_keras_model, resolve_model

TEN_CROP = 42  # side of the ten-crop views, resized back to 48
XLA_MAX_BATCH = 16  # batches up to this size run as XLA programs (TensorFlow backend)


def check_faces(faces) -> np.ndarray:
    """Validate a batch of grayscale face crops: uint8 ``(N, H, W)`` with N >= 1."""
    if not isinstance(faces, np.ndarray):
        raise ValueError(f"faces must be a numpy array, got {type(faces).__name__}")
    if faces.dtype != np.uint8:
        raise ValueError(f"faces must be uint8 grayscale crops, got dtype {faces.dtype}")
    if faces.ndim != 3:
        raise ValueError(f"faces must have shape (N, H, W), got {faces.shape}")
    if faces.shape[0] == 0:
        raise ValueError("faces is empty: expected at least one face crop")
    if faces.shape[1] < 8 or faces.shape[2] < 8:
        raise ValueError(f"face crops of {faces.shape[1]}x{faces.shape[2]} pixels are too small (8x8 at least)")
    return faces


def to_model_input(faces: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W)`` crops -> float32 ``(N, 48, 48, 1)`` pixels in [0, 255]."""
    if faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        faces = np.stack([cv2.resize(f, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA) for f in faces])
    return faces.astype(np.float32)[..., None]


def tta_views(x: np.ndarray) -> np.ndarray:
    """Ten-crop test-time augmentation: four corners and the centre, each also flipped.

    ``x``: float ``(N, 48, 48, 1)`` -> ``(10, N, 48, 48, 1)``.
    """
    s, c = IMAGE_SIZE, TEN_CROP
    o = (s - c) // 2
    crops = []
    for top, left in ((0, 0), (0, s - c), (s - c, 0), (s - c, s - c), (o, o)):
        crop = x[:, top : top + c, left : left + c, 0]
        crop = np.stack([cv2.resize(f, (s, s), interpolation=cv2.INTER_LINEAR) for f in crop])[..., None]
        crops += [crop, crop[:, :, ::-1]]
    return np.stack(crops)


class EmotionClassifier:
    """A trained expression CNN.

    >>> clf = EmotionClassifier.load()          # the shipped default model
    >>> probs = clf.predict(faces)              # uint8 (N, H, W) -> float (N, 7)
    """

    def __init__(self, model, name: str = "model"):
        self.model = model
        self.name = name
        self.classes = CLASSES
        shape = tuple(model.input_shape[1:])
        if shape != (IMAGE_SIZE, IMAGE_SIZE, 1) or tuple(model.output_shape[1:]) != (len(CLASSES),):
            raise ValueError(
                f"model {name}: expected input (48, 48, 1) and output ({len(CLASSES)},), "
                f"got {shape} and {tuple(model.output_shape[1:])}"
            )
        self._forward = _compiled_forward(model)
        self._forward(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))  # trace once, not on the hot path

    def warm_up(self, max_faces: int = XLA_MAX_BATCH) -> None:
        """Compile now, not on first use, the programs for batches of up to ``max_faces``
        faces (about 0.3 s each, TensorFlow backend): a live view should not stall the
        first time a second face appears."""
        n = 1
        while n < max_faces:
            n *= 2
            self.predict(np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8))

    @classmethod
    def load(cls, name_or_path: str | os.PathLike | None = None) -> "EmotionClassifier":
        """Load a shipped model by name (``default``), or a ``.keras`` file by path."""
        path = resolve_model(name_or_path)
        return cls(load_keras_model(path), name=path.stem)

    def predict(self, faces: np.ndarray, tta: bool = False) -> np.ndarray:
        """Class probabilities for uint8 ``(N, H, W)`` grayscale face crops: float ``(N, 7)``, rows sum to 1."""
        x = to_model_input(check_faces(faces))
        if tta:
            views = tta_views(x)
            n = x.shape[0]
            probs = self._forward(views.reshape((-1,) + x.shape[1:])).reshape(len(views), n, -1).mean(axis=0)
        else:
            probs = self._forward(x)
        probs = probs.astype(np.float64)
        return probs / probs.sum(axis=1, keepdims=True)


def _compiled_forward(model):
    """A compiled inference function for the Keras backend in use: no eager overhead per call."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf  # inference only: training and evaluation use keras alone

        forward = lambda x: model(x, training=False)  # noqa: E731
        # Large batches: one graph for every batch size, called directly, without dispatch.
        graph = tf.function(forward, input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)])
        graph = graph.get_concrete_function()
        # The few faces of a live frame: XLA fuses the layers into one program, which saves
        # per-op overhead (one face, `python bench/frame_speed.py`, median of 6 runs on a
        # 2-core CPU: 1.56 ms, against 1.69 ms for the graph).
        # XLA compiles one program per batch shape (about 0.3 s each), so batches are padded
        # to a power of two: at most five programs, for 1, 2, 4, 8 and 16 faces.
        xla = tf.function(forward, jit_compile=True)
        programs, lock = {}, threading.Lock()

        def program(size):
            with lock:  # the live view and uploads share a classifier, from two threads
                if size not in programs:
                    spec = tf.TensorSpec([size, IMAGE_SIZE, IMAGE_SIZE, 1], tf.float32)
                    programs[size] = xla.get_concrete_function(spec)
                return programs[size]

        def run(x):
            n = x.shape[0]
            if n > XLA_MAX_BATCH:
                return graph(tf.constant(x)).numpy()
            size = 1 << max(0, (n - 1).bit_length())
            if size != n:
                x = np.concatenate([x, np.zeros((size - n,) + x.shape[1:], x.dtype)])
            return program(size)(tf.constant(x)).numpy()[:n]

        return run
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        fixed = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def fn(x):
            out, _ = model.stateless_call(trainable, fixed, x, training=False)
            return out

        def run(x):
            n = x.shape[0]
            size = 1 << max(0, (n - 1).bit_length())  # pad to a power of two: few compilations
            if size != n:
                x = np.concatenate([x, np.zeros((size - n,) + x.shape[1:], x.dtype)])
            return np.asarray(fn(x))[:n]

        return run
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))
