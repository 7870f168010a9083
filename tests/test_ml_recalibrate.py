"""ml.recalibrate: BatchNorm statistics recomputed on plain images, weights untouched."""

import subprocess
import sys

import numpy as np
import pytest

from fer_fixtures import make_folder


def test_batchnorm_statistics_become_the_mean_over_the_images():
    import keras

    from ml.training import architectures
    from ml.training.recalibrate import batchnorm_layers, recalibrate

    keras.utils.set_random_seed(0)
    model = architectures.build("shallow")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (64, 48, 48), dtype=np.uint8)
    weights = [w.numpy().copy() for w in model.trainable_weights]
    dropout_rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    bn = batchnorm_layers(model)[0]
    assert np.allclose(bn.moving_mean.numpy(), 0)  # a new model

    assert recalibrate(model, images, batch_size=16) == 4

    # the first BatchNorm layer sees the first convolution's outputs: its mean is theirs
    conv = keras.Model(model.inputs, model.get_layer(index=2).output)  # rescale, conv
    conv_out = conv([images[..., None].astype("float32")]).numpy()
    np.testing.assert_allclose(bn.moving_mean.numpy(), conv_out.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
    # the variance: per batch about its own mean, averaged; close to the overall variance here
    np.testing.assert_allclose(bn.moving_variance.numpy(), conv_out.var(axis=(0, 1, 2)), rtol=0.1)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == dropout_rates
    assert bn.momentum == pytest.approx(0.99)


def test_empty_input_is_a_clear_error():
    from ml.training import architectures
    from ml.training.recalibrate import recalibrate

    with pytest.raises(ValueError, match="no images"):
        recalibrate(architectures.build("shallow"), np.zeros((0, 48, 48), np.uint8))


def test_cli_writes_a_model_that_predicts(tmp_path):
    import keras

    from ml.training import architectures

    data = make_folder(tmp_path / "fer2013")
    model_path = tmp_path / "m.keras"
    architectures.build("shallow").save(model_path)
    out = tmp_path / "out" / "recal.keras"
    r = subprocess.run([sys.executable, "-m", "ml.recalibrate", "--model", str(model_path), "--data", str(data),
                        "--out", str(out), "--check"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "BatchNorm layers recalibrated on 21 Training images" in r.stdout
    assert "PublicTest accuracy after" in r.stdout
    probs = keras.saving.load_model(out, compile=False).predict(np.zeros((2, 48, 48, 1), "float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)

    r = subprocess.run([sys.executable, "-m", "ml.recalibrate", "--model", str(model_path), "--data",
                        str(tmp_path / "missing"), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "missing" in r.stderr and "Traceback" not in r.stderr


def test_cli_corrupt_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_text("not a model")
    r = subprocess.run([sys.executable, "-m", "ml.recalibrate", "--model", str(bad), "--data",
                        str(make_folder(tmp_path / "fer2013")), "--out", str(tmp_path / "o.keras")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "bad.keras: not a loadable Keras model" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.keras").exists()
