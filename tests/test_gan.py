import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import Config, models, registry, runs
from gan_tf.gan import GAN


def make_gan(arch='mlp', image_shape=(28, 28, 1), **kwargs):
    generator, discriminator = models.build(arch, image_shape)
    gan = GAN(generator, discriminator, seed=1, **kwargs)
    gan.compile(keras.optimizers.Adam(1e-3, 0.5), keras.optimizers.Adam(1e-3, 0.5))
    return gan


def snapshot(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]


def real_batch(n=16, shape=(28, 28, 1)):
    return tf.random.uniform((n, *shape), -1.0, 1.0, seed=0)


@pytest.mark.parametrize('arch', sorted(registry.ARCHITECTURES))
def test_each_phase_updates_only_its_own_player(arch):
    gan = make_gan(arch)
    g_before, d_before = snapshot(gan.generator), snapshot(gan.discriminator)
    for _ in range(2):  # sagan's attention weights get no gradient while gamma is 0
        gan._train_discriminator(real_batch())
    assert all(changed(d_before, gan.discriminator))
    assert not any(changed(g_before, gan.generator))

    d_before = snapshot(gan.discriminator)
    for _ in range(2):
        gan._train_generator(real_batch())
    assert all(changed(g_before, gan.generator))
    assert not any(changed(d_before, gan.discriminator))


@pytest.mark.parametrize('d_steps', [1, 3])
def test_d_steps_discriminator_updates_per_generator_update(d_steps):
    gan = make_gan(d_steps=d_steps)
    images = tf.random.uniform((5 * d_steps * 8, 28, 28, 1), -1.0, 1.0)
    gan.fit(tf.data.Dataset.from_tensor_slices(images).batch(d_steps * 8),
            epochs=1, verbose=0, shuffle=False)
    assert int(gan.g_optimizer.iterations) == 5
    assert int(gan.d_optimizer.iterations) == 5 * d_steps


def test_each_discriminator_step_sees_its_own_part_of_the_batch():
    gan = make_gan(d_steps=2)
    seen = []
    gan._train_discriminator = lambda real, labels: seen.append(real.numpy()) or {}
    gan._train_generator = lambda real, labels: (tf.constant(0.0), tf.constant(0.0))
    batch = real_batch(8)
    gan.train_step(batch)
    assert [s.shape[0] for s in seen] == [4, 4]
    np.testing.assert_array_equal(np.concatenate(seen), batch.numpy())


def test_train_step_reports_the_game_statistics():
    gan = make_gan()
    metrics = {k: float(v) for k, v in gan.train_step(real_batch()).items()}
    assert set(metrics) == {'d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake',
                            'd_grad_norm', 'g_grad_norm'}
    for key in ('D_x', 'D_G_z', 'acc_real', 'acc_fake'):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics['d_grad_norm'] > 0 and metrics['g_grad_norm'] > 0
    assert all(np.isfinite(list(metrics.values())))


@pytest.mark.parametrize('noise', ['normal', 'uniform'])
def test_noise_has_the_distribution_the_flag_names(noise):
    config = Config(noise=noise, latent_dim=50)
    z = runs.build_gan(config, (28, 28, 1)).sample_noise(4000).numpy()
    assert z.shape == (4000, 50)
    if noise == 'uniform':
        assert z.min() >= -1.0 and z.max() <= 1.0
        assert z.var() == pytest.approx(1 / 3, rel=0.03)  # var of U(-1, 1)
        counts, _ = np.histogram(z, bins=10, range=(-1, 1))
        assert counts.min() > 0.9 * z.size / 10  # flat
    else:
        assert z.mean() == pytest.approx(0.0, abs=0.01)
        assert z.std() == pytest.approx(1.0, rel=0.02)
        assert np.mean(np.abs(z) > 1.96) == pytest.approx(0.05, abs=0.005)


def test_noise_is_reproducible_for_a_seed_and_differs_between_draws():
    a, b = make_gan(), make_gan()
    first = a.sample_noise(4).numpy()
    np.testing.assert_array_equal(first, b.sample_noise(4).numpy())
    assert not np.array_equal(first, a.sample_noise(4).numpy())


def test_widths_are_configurable():
    generator, discriminator = models.build('mlp', (28, 28, 1), (32, 64), (48,))
    generator(tf.zeros((1, 100))), discriminator(tf.zeros((1, 28, 28, 1)))
    assert [d.units for d in generator.hidden] == [32, 64]
    assert [d.units for d in discriminator.hidden] == [48]
