import keras
import numpy as np
import pytest

from ml.training import architectures
from ml.training.augment import augmenter
from ml.labels import CLASSES

NAMES = ["fc", "shallow", "deep", "deeper", "vgg", "realtime"]


def test_the_seed_papers_comparison_is_registered():
    assert set(NAMES) <= set(architectures.ARCHITECTURES)


@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_builds_and_trains_a_step(name):
    keras.utils.set_random_seed(0)
    model = architectures.build(name)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, len(CLASSES))
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    x = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype("float32")
    y = np.eye(7, dtype="float32")[np.arange(8) % 7]
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    probs = model.predict_on_batch(x)
    assert probs.shape == (8, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert architectures.count_macs(model) > 0


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ValueError, match="realtime"):
        architectures.build("resnet9000")


def test_macs_of_a_known_layer_stack():
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    outputs = keras.layers.Dense(7)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    assert architectures.count_macs(model) == 48 * 48 * 9 * 8 + 48 * 48 * 8 * 7


def test_augmentation_changes_training_images_only():
    aug = augmenter(seed=0)
    x = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype("float32")
    assert np.allclose(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    out = keras.ops.convert_to_numpy(aug(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x)
