"""GAN as a native Keras model: evaluate, Keras callbacks, save/load, any models."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import models
from gan_tf.gan import GAN
from gan_tf.gan import METRICS


def make_gan(generator=None, discriminator=None):
    if generator is None:
        generator, discriminator = models.build('mlp', (28, 28, 1), (32, 64), (64, 32))
    gan = GAN(generator, discriminator, latent_dim=8, seed=0)
    gan.compile(keras.optimizers.Adam(1e-3, 0.5), keras.optimizers.Adam(1e-3, 0.5))
    return gan


@pytest.fixture(scope='module')
def images():
    # Real-looking structure is not needed here; a fixed, seeded batch source is.
    return tf.random.stateless_uniform((256, 28, 28, 1), (1, 2), -1.0, 1.0)


def batches(images, size=32):
    return tf.data.Dataset.from_tensor_slices(images).batch(size, drop_remainder=True)


def test_evaluate_reports_the_mean_of_every_metric_and_changes_nothing(images):
    gan = make_gan()
    before = [v.numpy().copy() for v in gan.trainable_variables]
    result = gan.evaluate(batches(images), return_dict=True, verbose=0)
    assert set(result) == set(METRICS) - {'d_grad_norm', 'g_grad_norm'}  # no gradients
    assert all(np.isfinite(v) for v in result.values())
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, gan.trainable_variables))
    assert int(gan.step) == 0


def test_epoch_logs_are_means_of_the_step_logs(images):
    gan = make_gan()
    steps = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: steps.append(float(logs['d_loss'])))
    history = gan.fit(batches(images), epochs=1, verbose=0, shuffle=False,
                      callbacks=[record])
    assert history.history['d_loss'][0] == pytest.approx(np.mean(steps), rel=1e-5)


def test_keras_tensorboard_and_early_stopping_work(images, tmp_path):
    gan = make_gan()
    stop = keras.callbacks.EarlyStopping(monitor='g_loss', mode='min', patience=0,
                                         min_delta=1e9)
    history = gan.fit(batches(images), epochs=5, verbose=0, shuffle=False, callbacks=[
        stop, keras.callbacks.TensorBoard(log_dir=str(tmp_path / 'tb'))])
    assert len(history.history['g_loss']) == 2  # no gain of 1e9 after the first epoch
    assert any('events.out.tfevents' in name for _, _, names in os.walk(tmp_path / 'tb')
               for name in names)


def test_backup_and_restore_resumes_an_interrupted_fit(images, tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    backup = str(tmp_path / 'backup')
    gan = make_gan()
    with pytest.raises(KeyboardInterrupt):
        gan.fit(batches(images), epochs=4, verbose=0, shuffle=False, callbacks=[
            keras.callbacks.BackupAndRestore(backup), Interrupt()])
    weights = [v.numpy() for v in gan.generator.weights]
    assert int(gan.step) == 16

    fresh = make_gan()
    restored_weights = []
    peek = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: restored_weights.extend(
        v.numpy() for v in fresh.generator.weights))
    history = fresh.fit(batches(images), epochs=4, verbose=0, shuffle=False, callbacks=[
        keras.callbacks.BackupAndRestore(backup), peek])
    assert len(history.history['d_loss']) == 2  # epochs 3 and 4 only
    for saved, restored in zip(weights, restored_weights):
        np.testing.assert_array_equal(saved, restored)
    assert int(fresh.step) == 32  # the optimizer's step count came back too


def test_save_and_load_model_round_trip(images, tmp_path):
    gan = make_gan()
    gan.fit(batches(images), epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / 'gan.keras')
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GAN) and loaded.latent_dim == 8
    z = tf.random.normal([4, 8])
    np.testing.assert_allclose(loaded(z).numpy(), gan(z).numpy(), atol=1e-6)
    assert int(loaded.step) == int(gan.step) == 8
    for player in ('d_optimizer', 'g_optimizer'):
        saved, restored = getattr(gan, player).variables, getattr(loaded, player).variables
        assert len(restored) == len(saved) > 1, player  # iterations and every slot
        for a, b in zip(restored, saved):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    loaded.fit(batches(images), epochs=1, verbose=0, shuffle=False)  # trains on
    assert int(loaded.step) == 16


def test_any_keras_models_can_play(images):
    generator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(784, 'tanh'),
                                  keras.layers.Reshape((28, 28, 1))])
    inputs = keras.Input((28, 28, 1))
    discriminator = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(inputs)))
    gan = make_gan(generator, discriminator)
    history = gan.fit(batches(images), epochs=2, verbose=0, shuffle=False)
    assert int(gan.step) == 16 and np.isfinite(history.history['g_loss']).all()


def test_progress_bar_counts_down_to_whichever_limit_comes_first():
    from gan_tf.callbacks import ProgressBar
    by_steps = ProgressBar(total_steps=1000)
    by_steps.first_step = 0
    assert ' 10% 10.0 steps/s, 1:30 left' in by_steps.line(100, 10.0, {})
    by_time = ProgressBar(total_steps=1_000_000, max_seconds=60)
    by_time.first_step = 0
    line = by_time.line(100, 15.0, {})
    assert '[=====               ]  25%' in line and '0:45 left' in line, line
    by_steps_first = ProgressBar(total_steps=200, max_seconds=3600)
    by_steps_first.first_step = 0
    assert '1:40 left' in by_steps_first.line(100, 100.0, {})
