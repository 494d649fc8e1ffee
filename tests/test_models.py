"""Architectures: shapes, serialisation, self-attention, spectral normalisation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import models, registry
from gan_tf import data as gan_data
from gan_tf.gan import GAN
from gan_tf.models.layers import SelfAttention, SpectralNormalization

def spectral_layers(model):
    return [layer for layer in model._flatten_layers()
            if isinstance(layer, SpectralNormalization)]


def top_singular_value(kernel):
    """Largest singular value of `kernel` as the layers normalise it: [-1, units]."""
    kernel = np.asarray(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize('arch', sorted(registry.ARCHITECTURES))
@pytest.mark.parametrize('image_shape', [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_players_fit_the_image_shape(arch, image_shape):
    generator, discriminator = models.build(arch, image_shape)
    for training in (True, False):
        images = generator(tf.random.normal((3, 100), seed=1), training=training).numpy()
        assert images.shape == (3, *image_shape)
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert discriminator(images, training=training).shape == (3,)


@pytest.mark.parametrize('arch, spectral_norm', [(arch, sn) for arch in sorted(
    registry.ARCHITECTURES) for sn in (False, True) if not (arch == 'sagan' and not sn)])
def test_config_round_trip_gives_the_same_model(arch, spectral_norm):
    image_shape = (32, 32, 3)
    generator, discriminator = models.build(arch, image_shape, spectral_norm=spectral_norm)
    z = tf.random.normal((4, 100), seed=2)
    for model, x in ((generator, z), (discriminator, generator(z))):
        model(x, training=True)  # updates batch-norm statistics, spectral norm's u
        config = model.get_config()
        copy = type(model).from_config(config)
        copy(x)
        copy.set_weights(model.get_weights())
        assert copy.get_config() == config
        np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), atol=1e-6)


def test_build_passes_spectral_norm_to_the_discriminator_only():
    generator, discriminator = models.build('dcgan', (28, 28, 1), spectral_norm=True)
    generator(tf.zeros((1, 100))), discriminator(tf.zeros((1, 28, 28, 1)))
    assert discriminator.get_config()['spectral_norm'] is True
    # Every weight layer: two convolutions and the logit.
    assert len(spectral_layers(discriminator)) == 3
    assert not spectral_layers(generator)
    _, plain = models.build('dcgan', (28, 28, 1))
    plain(tf.zeros((1, 28, 28, 1)))
    assert not spectral_layers(plain)


def test_sagan_discriminator_is_always_spectrally_normalised():
    _, discriminator = models.build('sagan', (28, 28, 1))
    discriminator(tf.zeros((1, 28, 28, 1)))
    # Two convolutions, the logit, and the attention block's four 1x1 convolutions.
    assert len(spectral_layers(discriminator)) == 7
    with pytest.raises(ValueError, match='always spectrally normalised'):
        registry.architecture('sagan').classes()[1]((28, 28, 1), spectral_norm=False)


def test_spectral_norm_on_an_architecture_without_it_is_refused():
    class Plain(keras.Model):
        def __init__(self, image_shape, widths=None, **kwargs):
            super().__init__(**kwargs)

    registry.ARCHITECTURES['plain_for_test'] = registry.Architecture(Plain, Plain)
    try:
        models.build('plain_for_test', (28, 28, 1))  # without: still fine
        with pytest.raises(ValueError, match="'plain_for_test' has no spectral_norm"):
            models.build('plain_for_test', (28, 28, 1), spectral_norm=True)
    finally:
        del registry.ARCHITECTURES['plain_for_test']


@pytest.mark.parametrize('arch, image_shape, widths, message', [
    ('dcgan', (28, 28, 1), (256, 128, 64), 'divisible by 8; 28x28 is not'),
    ('sagan', (30, 30, 3), (128, 64), 'divisible by 4; 30x30 is not'),
    ('dcgan', (7, 7, 1), None, 'cannot generate 7x7 images'),
    ('dcgan', (28, 28), None, r'\(height, width, channels\)'),
])
def test_shapes_the_generator_cannot_do_are_refused_clearly(arch, image_shape, widths,
                                                            message):
    with pytest.raises(ValueError, match=message):
        models.build(arch, image_shape, g_widths=widths)


def test_dcgan_widths_set_the_blocks_and_default_by_image_size():
    # Lean by default (BASE_FILTERS): a block more per doubling of the size.
    for shape, g_widths, d_widths in [((28, 28, 1), [64, 32], [32, 64]),
                                      ((64, 64, 3), [128, 64, 32], [32, 64, 128])]:
        generator, discriminator = models.build('dcgan', shape)
        assert generator.widths == g_widths and discriminator.widths == d_widths
    generator, discriminator = models.build('dcgan', (32, 32, 3), (64, 32, 16), (8,))
    assert generator.to_map.target_shape == (4, 4, 64)
    assert [conv.filters for conv in generator.upsample] == [32, 16]
    assert [conv.filters for conv in discriminator.convs] == [8]
    assert generator(tf.zeros((1, 100))).shape == (1, 32, 32, 3)
    assert discriminator(tf.zeros((2, 32, 32, 3))).shape == (2,)


def test_dcgan_discriminator_has_no_batch_norm_on_its_input_block():
    _, discriminator = models.build('dcgan', (64, 64, 3))
    assert discriminator.norms[0] is None
    assert all(isinstance(n, keras.layers.BatchNormalization)
               for n in discriminator.norms[1:])


def test_self_attention_starts_as_the_identity_and_attends_over_positions():
    x = tf.random.normal((2, 5, 6, 16), seed=3)
    block = SelfAttention()
    np.testing.assert_array_equal(block(x).numpy(), x.numpy())  # gamma = 0
    assert float(block.gamma) == 0.0 and block.gamma.trainable

    # With gamma = 0.5, against a NumPy implementation of Zhang et al.'s block.
    block.gamma.assign(0.5)
    flat = x.numpy().reshape(2, 30, 16)
    query, key, value, out = (conv.kernel.numpy()[0, 0] for conv in
                              (block.query, block.key, block.value, block.out))
    assert (query.shape, key.shape, value.shape, out.shape) == (
        (16, 2), (16, 2), (16, 8), (8, 16))
    logits = (flat @ query) @ (flat @ key).transpose(0, 2, 1)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)  # softmax over the 30 positions
    expected = flat + 0.5 * (weights @ (flat @ value)) @ out
    np.testing.assert_allclose(block(x).numpy(), expected.reshape(x.shape),
                               rtol=1e-4, atol=1e-4)


def test_sagan_has_attention_at_the_middle_resolution_of_both_players():
    generator, discriminator = models.build('sagan', (28, 28, 1))
    seen = {}
    for name, model in (('g', generator), ('d', discriminator)):
        call = model.attention.call
        model.attention.call = lambda x, training=False, name=name, call=call: (
            seen.setdefault(name, tuple(x.shape[1:])), call(x, training))[1]
    discriminator(generator(tf.zeros((1, 100))))
    assert seen == {'g': (14, 14, 32), 'd': (14, 14, 32)}


@pytest.mark.parametrize('arch', sorted(registry.ARCHITECTURES))
def test_spectral_norm_keeps_the_top_singular_value_near_one(arch):
    keras.utils.set_random_seed(0)
    # Narrow players: fast, and every layer kind still there.
    generator, discriminator = models.build(arch, (28, 28, 1), (32, 16), (16, 32),
                                            spectral_norm=True)
    gan = GAN(generator, discriminator, seed=0)
    gan.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
    normalised = spectral_layers(discriminator)
    for layer in normalised:  # far from 1, so that normalisation has work to do
        layer.kernel.assign(layer.kernel * 10.0)
    raw = [top_singular_value(layer.kernel) for layer in normalised]
    assert max(raw) > 5.0, raw
    real = tf.random.uniform((16, 28, 28, 1), -1.0, 1.0, seed=4)
    for _ in range(5):
        gan.train_step(real)
    for layer in normalised:
        # Power iteration underestimates sigma, so this is >= 1; one iteration per
        # discriminator call, three calls a step: within 5% after five steps
        # (measured: at most 1.02).
        sigma = top_singular_value(layer.normalized_kernel())
        assert 1.0 - 1e-4 <= sigma <= 1.05, (layer.path, sigma)
    # The trainable kernels themselves are not rescaled, only read as W / sigma.
    np.testing.assert_allclose([top_singular_value(layer.kernel) for layer in normalised],
                               raw, rtol=0.1)


@pytest.fixture(scope='module')
def mnist_batches(mnist_data_dir):
    data = gan_data.load('mnist', mnist_data_dir, download=False)
    return data.images.take(64).batch(16).map(gan_data.to_unit_range)


@pytest.mark.parametrize('arch', ['dcgan', 'sagan'])
def test_a_few_steps_on_real_mnist_train_both_players(arch, mnist_batches):
    keras.utils.set_random_seed(1)
    generator, discriminator = models.build(arch, (28, 28, 1))
    gan = GAN(generator, discriminator, seed=1)
    gan.compile(keras.optimizers.Adam(2e-4, 0.5), keras.optimizers.Adam(2e-4, 0.5))
    before = {name: [v.numpy().copy() for v in player.trainable_variables]
              for name, player in (('g', generator), ('d', discriminator))}
    history = gan.fit(mnist_batches, epochs=1, verbose=0, shuffle=False)
    assert int(gan.step) == 4
    for key in ('d_loss', 'g_loss'):
        assert np.isfinite(history.history[key]).all(), key
    for name, player in (('g', generator), ('d', discriminator)):
        # All of them: sagan's attention weights move from the second step on,
        # once gamma is no longer 0.
        unchanged = [v.path for b, v in zip(before[name], player.trainable_variables)
                     if np.array_equal(b, v.numpy())]
        assert not unchanged, unchanged
