"""The training augmentation (ml/training/augment.py): its semantics, and that the whole
training step compiles with XLA, so that a GPU trains at full speed (CPU only here)."""

import keras
import numpy as np
import pytest

from ml.training import architectures, train
from ml.training.augment import Augmentation, augmenter, warp

N = 64


def face_batch(n=N, seed=0):
    """Copies of one asymmetric image: a gradient from left to right, a bright block top left."""
    img = np.tile(np.linspace(0, 200, 48, dtype=np.float32), (48, 1))
    img[4:14, 4:14] = 255
    img += np.random.default_rng(seed).uniform(0, 20, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255)
    return np.repeat(img[None, :, :, None], n, axis=0)


def run(layer, x, training=True):
    return keras.ops.convert_to_numpy(layer(x, training=training))


def test_training_step_compiles_with_xla(tmp_path):
    """ml.train's model (augmentation + network) trains with jit_compile=True: Keras keeps XLA
    on only if every layer supports it, and TensorFlow's XLA compiles every op or fails."""
    args = train.parse_args(["--out", str(tmp_path), "--batch-size", "8"])
    net = architectures.build("vgg", width=8, dense=32)
    model = train.training_model(net, args, steps_per_epoch=2, jit_compile=True)
    assert model.jit_compile is True
    x, y = face_batch(16), np.eye(7, dtype="float32")[np.arange(16) % 7]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.jit_compile is True  # still on after tracing and compiling the step
    assert np.isfinite(history.history["loss"][0])


def test_inference_passes_images_through():
    x = face_batch(4)
    np.testing.assert_array_equal(run(augmenter(), x, training=False), x)


def test_output_has_the_input_shape_and_pixel_range():
    x = face_batch()
    out = run(augmenter(seed=3), x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255


def test_no_augmentation_is_identity():
    x = face_batch(8)
    np.testing.assert_array_equal(run(Augmentation(0, 0, 0, 0, flip=False), x), x)


def test_the_identity_transform_resamples_nothing():
    x = face_batch(3)
    identity = np.tile(np.array([1, 0, 0, 0, 1, 0, 0, 0], np.float32), (3, 1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(warp(x, identity)), x, atol=1e-4)


def test_warp_matches_keras_affine_transform_bilinear_reflect():
    """Same values as keras.ops.image.affine_transform(bilinear, reflect), borders included."""
    x = np.random.default_rng(1).uniform(0, 255, (8, 48, 48, 1)).astype(np.float32)
    transforms = keras.ops.convert_to_numpy(Augmentation(rotation=30, shift=0.3, zoom=0.4, seed=2).random_transforms(8, 48, 48))
    expected = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(x, transforms, "bilinear", "reflect"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(warp(x, transforms)), expected, atol=1e-2)


def test_flip_mirrors_about_half_the_images():
    x = face_batch(N)
    out = run(Augmentation(0, 0, 0, 0, flip=True, seed=4), x)
    flipped = np.array([np.allclose(o, x[0, :, ::-1], atol=1e-3) for o in out])
    kept = np.array([np.allclose(o, x[0], atol=1e-3) for o in out])
    assert (flipped ^ kept).all()  # each image is one or the other
    assert 16 <= flipped.sum() <= 48  # about half (binomial, 64 draws)


def test_each_image_gets_its_own_transform_and_each_call_new_ones():
    x = face_batch(N)
    layer = augmenter(seed=5)
    out, again = run(layer, x), run(layer, x)
    flat = out.reshape(N, -1)
    distinct = {tuple(np.round(r[:200], 3)) for r in flat}
    assert len(distinct) == N
    assert not np.allclose(out, again)


def test_transforms_stay_within_the_magnitudes():
    """Decompose the drawn affines: rotation within +-10 degrees, zoom within 1 +- 0.2, shift
    within +-0.2 of the size, about half mirrored, and the extremes are reached."""
    t = keras.ops.convert_to_numpy(Augmentation(rotation=10, shift=0.2, zoom=0.2, seed=6).random_transforms(4000, 48, 48))
    a = t[:, [0, 1, 3, 4]].reshape(-1, 2, 2)  # input = A @ output + b
    det = np.linalg.det(a)
    mirrored = det < 0
    scale = np.sqrt(np.abs(det))
    unmirrored = a.copy()
    unmirrored[mirrored, 0, :] *= -1  # undo the flip of x
    angle = np.degrees(np.arctan2(unmirrored[:, 1, 0], unmirrored[:, 1, 1]))
    assert 0.45 < mirrored.mean() < 0.55
    assert np.abs(angle).max() <= 10 + 1e-3 and np.abs(angle).max() > 9.8
    assert scale.min() >= 0.8 - 1e-4 and scale.max() <= 1.2 + 1e-4 and scale.min() < 0.81 and scale.max() > 1.19
    centre = np.array([23.5, 23.5])
    read_at_centre = np.einsum("nij,j->ni", a, centre) + t[:, [2, 5]]  # where the output centre is read from
    offset = read_at_centre - centre
    offset[mirrored, 0] *= -1
    rot = np.radians(angle)
    shift = -np.stack([np.cos(rot) * offset[:, 0] + np.sin(rot) * offset[:, 1],
                       -np.sin(rot) * offset[:, 0] + np.cos(rot) * offset[:, 1]], axis=1)
    assert np.abs(shift).max() <= 0.2 * 48 + 1e-3 and np.abs(shift).max() > 0.19 * 48


def test_erasing_replaces_one_rectangle_of_2_to_20_percent():
    x = np.full((N, 48, 48, 1), 100.0, np.float32)
    out = run(Augmentation(0, 0, 0, erase=1.0, flip=False, seed=7), x)
    for img in out[..., 0]:
        rows, cols = np.nonzero(img != 100.0)
        assert len(rows), "every image is erased with erase=1"
        height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        area = height * width / 48**2
        assert 0.015 <= area <= 0.22
        assert (img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] != 100.0).mean() > 0.95  # noise fills it
    assert 0 <= out.min() and out.max() <= 255 and out[out != 100.0].std() > 50  # uniform noise in [0, 255]
    half = run(Augmentation(0, 0, 0, erase=0.5, flip=False, seed=8), x)
    erased = (half != 100.0).reshape(N, -1).any(axis=1)
    assert 16 <= erased.sum() <= 48


def test_bad_magnitudes_are_refused():
    with pytest.raises(ValueError, match="zoom"):
        Augmentation(zoom=1.5)
    with pytest.raises(ValueError, match="erase"):
        Augmentation(erase=-0.1)


def test_a_model_with_the_layer_saves_and_loads(tmp_path):
    inputs = keras.Input(architectures.INPUT_SHAPE)
    model = keras.Model(inputs, augmenter(rotation=7, shift=0.1, zoom=0.05, erase=0.25, flip=False, seed=9)(inputs))
    model.save(tmp_path / "aug.keras")
    loaded = keras.saving.load_model(tmp_path / "aug.keras")
    layer = loaded.layers[-1]
    assert isinstance(layer, Augmentation)
    assert (layer.rotation, layer.shift, layer.zoom, layer.erase, layer.flip, layer.seed) == (7, 0.1, 0.05, 0.25, False, 9)


def test_the_shipped_model_holds_no_augmentation():
    """Training saves the network alone: the shipped model has no random layer to change its answers."""
    from ml.registry import load_keras_model, resolve_model
    from ml.training.recalibrate import all_layers

    model = load_keras_model(resolve_model("default"))
    names = {type(layer).__name__ for layer in all_layers(model)}
    assert not any(n.startswith("Random") or n == "Augmentation" for n in names), names
