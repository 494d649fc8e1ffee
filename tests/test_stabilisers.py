"""Penalties, weight clipping, EMA, instance noise, DiffAugment, and every loss
training on real MNIST."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import Config, augment, models, registry, runs
from gan_tf import data as gan_data
from gan_tf import gan
from gan_tf.gan import GAN

LATENT = 3
W = np.array([0.6, -0.8, 1.2, 0.0], np.float32)  # |W| = 1.5620...


class LinearCritic(keras.Model):
    """D(x) = w.x for 2x2 images: input gradient w everywhere, norm |w|."""

    def __init__(self, w=W):
        super().__init__()
        self.dense = keras.layers.Dense(
            1, use_bias=False, kernel_initializer=keras.initializers.Constant(w[:, None]))

    def call(self, images, training=False):
        return self.dense(keras.ops.reshape(images, (-1, 4)))[:, 0]


def tiny_gan(loss='non_saturating', discriminator=None, **options):
    generator = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(4, 'tanh'),
                                  keras.layers.Reshape((2, 2, 1))])
    gan = GAN(generator, discriminator or LinearCritic(), latent_dim=LATENT, seed=0,
              **options)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3), loss=loss)
    return gan


def mlp_gan(loss='non_saturating', **options):
    keras.utils.set_random_seed(0)
    generator, discriminator = models.build('mlp', (28, 28, 1))
    gan = GAN(generator, discriminator, seed=1, **options)
    gan.compile(keras.optimizers.Adam(1e-3, 0.5), keras.optimizers.Adam(1e-3, 0.5),
                loss=loss)
    return gan


def images(n=8, shape=(2, 2, 1), seed=0):
    return tf.random.stateless_uniform((n, *shape), (seed, 0), -1.0, 1.0)


# Penalties: a linear critic has input gradient norm |w| at every point.

@pytest.mark.parametrize('option, expected', [
    ('gp_weight', (np.linalg.norm(W) - 1) ** 2),  # Gulrajani et al.: (|w| - 1)^2
    ('r1_weight', np.linalg.norm(W) ** 2 / 2),  # Mescheder et al.: gamma/2 |w|^2
    ('dragan_weight', (np.linalg.norm(W) - 1) ** 2),  # Kodali et al.: (|w| - 1)^2
])
def test_penalties_of_a_critic_with_a_known_gradient_norm(option, expected):
    gan = tiny_gan('wgan_gp' if option == 'gp_weight' else 'hinge', **{option: 3.0})
    critic = gan.discriminator.trainable_variables
    with tf.GradientTape() as tape:
        penalty = gan._penalties(images(seed=1), images(seed=2))
    assert float(penalty) == pytest.approx(3.0 * expected, rel=1e-5)
    # Its gradient with respect to the critic's weights: d/dw of 3 (|w| - 1)^2 is
    # 6 (|w| - 1) w / |w|, and of 3/2 |w|^2 is 3 w (a second derivative of D).
    norm = np.linalg.norm(W)
    slope = 3.0 * W if option == 'r1_weight' else 6.0 * (norm - 1) * W / norm
    np.testing.assert_allclose(tape.gradient(penalty, critic)[0].numpy()[:, 0], slope,
                               rtol=1e-5, atol=1e-6)


def test_no_penalty_unless_switched_on():
    assert tiny_gan('wasserstein')._penalties(images(), images()) == 0.0
    assert tiny_gan('hinge', gp_weight=10.0)._penalties(images(), images()) == 0.0  # not wgan_gp


def test_gradient_penalty_stays_finite_where_the_critic_is_flat():
    gan = tiny_gan('wgan_gp', discriminator=LinearCritic(np.zeros(4, np.float32)))
    with tf.GradientTape() as tape:
        penalty = gan._penalties(images(seed=1), images(seed=2))
    assert float(penalty) == pytest.approx(10.0, rel=1e-5)  # (0 - 1)^2, lambda 10
    gradient = tape.gradient(penalty, gan.discriminator.trainable_variables)[0]
    assert np.all(np.isfinite(gradient.numpy()))


def test_interpolation_weight_is_uniform_per_image_and_reproducible():
    real, fake = tf.ones([4000, 2, 2, 1]), tf.zeros([4000, 2, 2, 1])
    points = tiny_gan('wgan_gp')._interpolate(real, fake).numpy()
    per_image = points.reshape(4000, -1)
    np.testing.assert_array_equal(per_image, per_image[:, :1].repeat(4, axis=1))
    alpha = per_image[:, 0]
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert alpha.mean() == pytest.approx(0.5, abs=0.02)
    assert alpha.var() == pytest.approx(1 / 12, rel=0.1)
    np.testing.assert_array_equal(points, tiny_gan('wgan_gp')._interpolate(real, fake))


# Weight clipping.

def test_wasserstein_clips_the_critics_weights_after_each_update():
    gan = mlp_gan('wasserstein')
    assert gan.clip_value == 0.01  # the paper's c
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    gan._train_discriminator(tf.random.uniform((8, 28, 28, 1), -1, 1, seed=0))
    assert max(np.abs(v.numpy()).max() for v in gan.discriminator.trainable_variables) <= 0.01
    assert all(np.array_equal(b, v.numpy())
               for b, v in zip(g_before, gan.generator.trainable_variables))


def test_clip_zero_turns_clipping_off():
    gan = mlp_gan('wasserstein', clip=0.0)
    gan._train_discriminator(tf.random.uniform((8, 28, 28, 1), -1, 1, seed=0))
    assert max(np.abs(v.numpy()).max() for v in gan.discriminator.trainable_variables) > 0.01


# Discriminator steps.

@pytest.mark.parametrize('loss, requested, expected', [
    ('wasserstein', None, 5), ('wgan_gp', None, 5), ('hinge', None, 1),
    ('non_saturating', None, 1), ('wasserstein', 2, 2)])
def test_d_steps_default_to_the_losss_own(loss, requested, expected):
    config = Config(loss=loss, d_steps=requested, latent_dim=8)
    assert runs.build_gan(config, (28, 28, 1)).d_steps == expected


def test_build_gan_passes_every_option_on():
    config = Config(loss='energy', margin=2.0, pt_weight=0.1, r1_weight=1.0,
                    dragan_weight=2.0, instance_noise=0.1, instance_noise_steps=50,
                    diffaugment='cutout', ema_decay=0.99, clip=0.5, gp_weight=3.0,
                    latent_dim=8)
    gan = runs.build_gan(config, (28, 28, 1))
    assert gan.options == {name: getattr(config, name) for name in gan.options}
    assert gan.clip_value == 0.5 and gan.ema_generator is not None


@pytest.mark.parametrize('options, match', [
    (dict(label_smoothing=0.1), 'label_smoothing=0.1: no effect'),
    (dict(pt_weight=0.1), 'pt_weight=0.1: no effect'),
    (dict(ema_decay=1.0), 'ema_decay=1.0: must be below 1'),
    (dict(diffaugment='translation,rotate'), "diffaugment=translation,rotate: .*'rotate'"),
    (dict(r1_weight=-1.0), 'r1_weight=-1.0: must be at least 0'),
])
def test_meaningless_or_out_of_range_options_are_rejected(options, match):
    with pytest.raises(ValueError, match=match):
        tiny_gan('wasserstein', **options)


# Exponential moving average of the generator.

@pytest.mark.parametrize('arch', ['mlp', 'dcgan'])
def test_ema_follows_the_formula_after_a_step_and_generates(arch):
    generator, discriminator = models.build(arch, (28, 28, 1))
    gan = GAN(generator, discriminator, seed=0, ema_decay=0.9)
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in gan.generator.weights]
    np.testing.assert_array_equal(before[0], gan.ema_generator.weights[0].numpy())
    gan.train_step(tf.random.uniform((8, 28, 28, 1), -1, 1, seed=0))
    after = [w.numpy() for w in gan.generator.weights]
    # Every weight, batch-norm moving statistics included; after step 1 the
    # decay is the ramp's (1 + 1) / (10 + 1), below 0.9.
    decay = 2 / 11
    for b, a, e in zip(before, after, gan.ema_generator.weights):
        np.testing.assert_allclose(e.numpy(), decay * b + (1 - decay) * a,
                                   rtol=1e-5, atol=1e-7)
    assert not np.array_equal(before[0], after[0])
    z = gan.sample_noise(4)
    assert gan.sampling_generator is gan.ema_generator
    np.testing.assert_array_equal(gan(z).numpy(), gan.ema_generator(z).numpy())
    assert not np.allclose(gan(z).numpy(), gan.generator(z).numpy())
    trainable = {id(v) for v in gan.trainable_variables}
    assert not any(id(v) in trainable for v in gan.ema_generator.weights)


def test_ema_decay_ramps_up_to_the_one_asked_for():
    ramp = [float(gan.ema_decay_at(0.999, float(t))) for t in (1, 80, 8991, 20000)]
    np.testing.assert_allclose(ramp, [2 / 11, 0.9, 0.999, 0.999], rtol=1e-6)
    assert float(gan.ema_decay_at(0.5, 1.0)) == pytest.approx(2 / 11)
    assert float(gan.ema_decay_at(0.5, 100.0)) == 0.5


def test_without_ema_the_generator_samples():
    gan = tiny_gan()
    assert gan.ema_generator is None and gan.sampling_generator is gan.generator


def test_save_and_load_keeps_the_options_and_the_average(tmp_path):
    options = dict(ema_decay=0.5, r1_weight=1.0, diffaugment='translation',
                   instance_noise=0.1, clip=0.05)
    gan = mlp_gan('hinge', **options)
    data = tf.data.Dataset.from_tensor_slices(
        tf.random.uniform((16, 28, 28, 1), -1, 1, seed=0)).batch(8)
    gan.fit(data, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / 'gan.keras')
    gan.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.options == gan.options and loaded.gan_loss == gan.gan_loss
    for a, b in zip(loaded.ema_generator.weights, gan.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = gan.sample_noise(2)
    np.testing.assert_allclose(loaded(z).numpy(), gan(z).numpy(), atol=1e-6)


# Instance noise.

def test_instance_noise_anneals_linearly_to_zero():
    gan = mlp_gan(instance_noise=0.5, instance_noise_steps=100)
    zeros = tf.zeros((64, 28, 28, 1))
    assert float(tf.math.reduce_std(gan._discriminator_input(zeros))) == pytest.approx(
        0.5, rel=0.02)
    gan.g_optimizer.iterations.assign(50)
    assert float(tf.math.reduce_std(gan._discriminator_input(zeros))) == pytest.approx(
        0.25, rel=0.02)
    gan.g_optimizer.iterations.assign(100)
    assert not np.any(gan._discriminator_input(zeros).numpy())


def test_stochastic_stabilisers_are_reproducible_for_a_seed():
    batch = tf.random.uniform((8, 28, 28, 1), -1, 1, seed=0)
    runs = []
    for _ in range(2):
        gan = mlp_gan('wgan_gp', d_steps=2, diffaugment='color,translation,cutout',
                      instance_noise=0.1, dragan_weight=1.0)
        runs.append({k: float(v) for k, v in gan.train_step(batch).items()})
    assert runs[0] == runs[1]


# DiffAugment.

def mnist_like(n=16, seed=0):
    """[-1, 1] images with a bright blob away from the border, like digits."""
    canvas = -np.ones((n, 28, 28, 1), np.float32)
    canvas[:, 8:20, 10:18] = np.random.default_rng(seed).uniform(0, 1, (n, 12, 8, 1))
    return tf.constant(canvas)


@pytest.mark.parametrize('policy', ['translation', 'cutout'])
def test_translation_and_cutout_keep_shape_and_range(policy):
    x = mnist_like()
    y = augment.diff_augment(x, policy, keras.random.SeedGenerator(0)).numpy()
    assert y.shape == x.shape and y.min() >= -1.0 and y.max() <= 1.0
    assert not np.array_equal(y, x.numpy())


def shifted(image, dy, dx):
    """`image` moved by (dy, dx) whole pixels, uncovered pixels 0."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_translation_shifts_each_image_by_at_most_an_eighth():
    x = mnist_like(32).numpy()
    y = augment.translation(tf.constant(x), keras.random.SeedGenerator(1)).numpy()
    shifts = set()
    for original, moved in zip(x, y):
        matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                   if np.allclose(shifted(original, dy, dx), moved)]
        assert matches, 'not a whole-pixel shift of at most 4 (28 / 8) pixels'
        shifts.add(matches[0])
    assert len(shifts) > 5  # drawn per image


def test_cutout_zeroes_one_square_of_at_most_half_the_size():
    x = tf.ones((32, 28, 28, 1))
    y = augment.cutout(x, keras.random.SeedGenerator(2)).numpy()[..., 0]
    for image in y:
        rows, cols = np.nonzero(image == 0)
        height, width = np.ptp(rows) + 1, np.ptp(cols) + 1
        assert 7 <= height <= 14 and 7 <= width <= 14  # clipped at the border
        assert len(rows) == height * width  # one filled rectangle
        assert np.all((image == 0) | (image == 1))


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = tf.random.stateless_uniform((16, 8, 8, 3), (0, 0), -1, 1)
    y = augment.color(x, keras.random.SeedGenerator(3)).numpy()
    assert y.shape == x.shape and np.all(np.isfinite(y))
    shift = (y - x.numpy()).mean(axis=(1, 2, 3))
    assert np.std(shift) > 0.05  # different per image


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout',
                                    'color,translation,cutout'])
def test_diffaugment_is_differentiable(policy):
    x = tf.Variable(mnist_like(4))
    with tf.GradientTape() as tape:
        y = augment.diff_augment(x, policy, keras.random.SeedGenerator(4))
        loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, (1, 1)))
    gradient = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(gradient)) and np.count_nonzero(gradient) > gradient.size / 4


def test_diffaugment_is_reproducible_and_rejects_unknown_names():
    x = mnist_like(4)
    a = augment.diff_augment(x, 'color,translation,cutout', keras.random.SeedGenerator(5))
    b = augment.diff_augment(x, 'color,translation,cutout', keras.random.SeedGenerator(5))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert registry.augmentations('') == () and registry.augmentations(' cutout, color ') == ('cutout', 'color')
    with pytest.raises(ValueError, match='color, translation, cutout'):
        registry.augmentations('flip')


def test_diffaugment_reaches_d_in_both_steps():
    gan = mlp_gan(diffaugment='cutout')
    seen = []
    call = gan.discriminator.call
    gan.discriminator.call = lambda images, training=False: (
        seen.append(float(tf.reduce_mean(tf.cast(images == 0, tf.float32))))
        or call(images, training))
    gan.train_step(tf.ones((8, 28, 28, 1)))
    # D's inputs in the D step (real, fake) and in the G step (fake) all have holes.
    assert len(seen) == 3 and all(0.05 < s < 0.3 for s in seen)


# Every loss, with a stabiliser each, trains on real MNIST.

@pytest.fixture(scope='module')
def mnist(mnist_data_dir):
    """The first 480 real MNIST training images in [-1, 1], in memory."""
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    images = next(iter(data.images.take(480).batch(480)))
    return gan_data.to_unit_range(images)


@pytest.mark.parametrize('loss, options', [
    ('wasserstein', {}),
    ('wgan_gp', dict(diffaugment='translation,cutout')),
    ('hinge', dict(r1_weight=1.0)),
    ('least_squares', dict(instance_noise=0.1)),
    ('energy', dict(pt_weight=0.1, ema_decay=0.99)),
    ('relativistic', dict(dragan_weight=10.0)),
    ('non_saturating', dict(label_smoothing=0.1, diffaugment='color')),
])
def test_each_loss_trains_on_real_mnist(mnist, loss, options):
    config = Config(loss=loss, d_steps=None, batch_size=16, **options)
    gan = runs.build_gan(config, mnist.shape[1:])
    batches = tf.data.Dataset.from_tensor_slices(mnist).batch(16 * gan.d_steps).take(3)
    g_before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    history = gan.fit(batches, epochs=1, verbose=0, shuffle=False)
    assert int(gan.step) == 3 and int(gan.d_optimizer.iterations) == 3 * gan.d_steps
    assert all(np.isfinite(values[-1]) for values in history.history.values())
    assert history.history['d_grad_norm'][-1] > 0 and history.history['g_grad_norm'][-1] > 0
    assert not any(np.array_equal(b, v.numpy())
                   for b, v in zip(g_before, gan.generator.trainable_variables))
