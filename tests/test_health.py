"""The training health monitor: each detector on synthetic log streams (cheap, every
branch), then on real MNIST runs broken on purpose, and quiet on a healthy one."""
import dataclasses
import io
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import Config, callbacks, health, judge, models, quality, registry, runs
from gan_tf import data as gan_data
from gan_tf.gan import GAN

HEALTHY = dict(d_loss=1.2, g_loss=0.9, D_x=0.6, D_G_z=0.4, acc_real=0.7,
               acc_fake=0.6, d_grad_norm=3.0, g_grad_norm=3.0)


def tiny_gan(loss='non_saturating', lr_d=2e-4, lr_g=2e-4):
    generator, discriminator = models.build('mlp', (28, 28, 1), (8,), (8,))
    gan = GAN(generator, discriminator, latent_dim=4, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(lr_d),
                g_optimizer=keras.optimizers.Adam(lr_g), loss=loss)
    return gan


def feed(rows, monitor=None, gan=None):
    """Feeds per-step logs to a monitor as `fit` would; returns the monitor."""
    gan = gan or tiny_gan()
    monitor = monitor or callbacks.HealthMonitor(stream=io.StringIO())
    monitor.set_model(gan)
    monitor.on_train_begin()
    for row in rows:
        gan.g_optimizer.iterations.assign_add(1)
        monitor.on_train_batch_end(0, {**HEALTHY, **row})
    return monitor


def fired(monitor, kind=None):
    return [(f.step, f.kind) for f in monitor.findings
            if f.event == 'fired' and kind in (None, f.kind)]


# --- synthetic streams ---------------------------------------------------------------

def test_a_healthy_stream_with_noise_is_quiet():
    rng = np.random.default_rng(0)
    rows = [dict(acc_real=rng.binomial(64, 0.8) / 64, acc_fake=rng.binomial(64, 0.7) / 64,
                 g_grad_norm=3 * rng.lognormal(0, 0.5)) for _ in range(600)]
    assert feed(rows).findings == []


def test_overpowering_needs_a_whole_window_fires_once_and_clears():
    # Isolated perfect steps (one in five) never fire: the window mean stays low.
    spikes = [dict(acc_real=1.0, acc_fake=1.0) if i % 5 == 0 else {} for i in range(200)]
    assert fired(feed(spikes)) == []
    rows = [{}] * 100 + [dict(acc_real=1.0, acc_fake=0.99)] * 300 + [{}] * 200
    monitor = feed(rows)
    events = [(f.step, f.event) for f in monitor.findings]
    # Fires once the window's mean passes 0.95 (95% of its 50 steps at ~1.0, the
    # rest at 0.6-0.7): step 100 + 47; clears a window after it last held.
    assert events[0][1] == 'fired' and 140 <= events[0][0] <= 150
    assert [e for _, e in events] == ['fired', 'cleared']
    assert 400 < events[1][0] <= 400 + 2 * health.WINDOW
    assert 'discriminator overpowering' in monitor.findings[0].message
    assert '--lr_d=5e-05' in monitor.findings[0].suggestion


def test_vanishing_generator_gradient_fires_when_the_norm_collapses():
    rows = [dict(g_grad_norm=2.0)] * 100 + [dict(g_grad_norm=1e-3)] * 100
    monitor = feed(rows)
    assert fired(monitor) == [(126, 'vanishing_generator_gradient')]  # median flips
    assert '2000 times below its peak 2' in monitor.findings[0].message
    # A gradient that shrinks only tenfold, or spikes once, is no vanishing.
    tenfold = [dict(g_grad_norm=2.0)] * 100 + [dict(g_grad_norm=0.2)] * 100
    assert fired(feed(tenfold)) == []
    spike = [dict(g_grad_norm=500.0 if i == 3 else 2.0) for i in range(200)]
    assert fired(feed(spike)) == []


def test_vanishing_gradient_suggests_the_non_saturating_loss_for_minimax():
    rows = [dict(g_grad_norm=2.0)] * 60 + [dict(g_grad_norm=1e-4)] * 60
    monitor = feed(rows, gan=tiny_gan('minimax'))
    assert monitor.findings[0].suggestion.startswith('--loss=non_saturating')


def square_wave(half, low, high, steps):
    """D's accuracy on fake alternating between `low` and `high` every `half` steps."""
    return [dict(acc_fake=high if (i // half) % 2 else low) for i in range(steps)]


def test_oscillation_fires_on_sides_taking_turns_not_on_a_trend():
    monitor = feed(square_wave(25, 0.1, 0.9, 400))
    assert fired(monitor) == [(health.OSCILLATION_BLOCK * health.OSCILLATION_BLOCKS,
                               'oscillation')]
    assert 'between 0.10 and 0.90' in monitor.findings[0].message
    # Too small a swing, too slow a swing, and a steady climb: quiet.
    assert fired(feed(square_wave(25, 0.4, 0.6, 400))) == []
    assert fired(feed(square_wave(75, 0.1, 0.9, 400))) == []
    climb = [dict(acc_fake=0.1 + 0.8 * i / 400) for i in range(400)]
    assert fired(feed(climb)) == []


def test_swings_counts_alternating_moves_only():
    assert health.swings([0, 1, 0, 1, 0], 0.5) == 4
    assert health.swings([0, 0.3, 0.6, 0.9], 0.5) == 1  # one long rise
    assert health.swings([0, 0.4, 0.1, 0.45], 0.5) == 0


def test_non_finite_is_recorded_at_its_step():
    monitor = feed([{}] * 10 + [dict(d_loss=float('nan'))])
    assert fired(monitor) == [(11, 'non_finite')]
    assert 'd_loss' in monitor.findings[0].message


def test_probe_detectors_judge_recognisable_samples_only():
    ten = np.eye(10)[np.arange(500) % 10] * 0.95 + 0.005
    one = np.eye(10)[np.full(500, 3)] * 0.95 + 0.005
    three = np.eye(10)[np.arange(500) % 3] * 0.95 + 0.005
    # Blobs a classifier calls 3s, confidently, but that lie among no real
    # images (realistic 0): no judgement.
    for probabilities, realistic, expected in [
            (ten, 0.9, None), (one, 0.0, None), (one, 0.9, '1 of 10'),
            (three, 0.9, '3 of 10 classes (samples classified as 0, 1, 2;')]:
        statistics = quality.class_statistics(probabilities)
        message = health.mode_collapse(dict(statistics, classes=probabilities.shape[1],
                                            realistic=realistic))
        assert (message is None) if expected is None else expected in message
    assert health.memorisation(dict(memorised=0.05)) is None
    assert health.memorisation(dict(memorised=0.4)).startswith(
        'memorisation: 40% of samples copy a training image')
    # Three images 0, 1 and 2 everywhere: pairwise L2 distances 28, 56, 28.
    images = np.stack([np.full((28, 28, 1), v) for v in (0.0, 1.0, 2.0)])
    assert health.mean_pairwise_distance(images) == pytest.approx(112 / 3)
    assert health.diversity(images, 112 / 6) == pytest.approx(2.0)
    assert health.diversity(np.repeat(images[:1], 64, 0), 10.0) < 1e-6


def test_suggestions_name_only_flags_and_losses_that_exist():
    settings = health.Settings('non_saturating', lr_d=2e-4, lr_g=2e-4)
    fields = {f.name for f in dataclasses.fields(Config)}
    for kind in health.NAMES:
        text = health.suggest(kind, settings)
        assert text, kind
        assert set(re.findall(r'--(\w+)', text)) <= fields, text
        assert set(re.findall(r'--loss=(\w+)', text)) <= set(registry.LOSSES), text


# --- real MNIST ----------------------------------------------------------------------

@pytest.fixture(scope='session')
def mnist(mnist_data_dir):
    return gan_data.load('mnist', mnist_data_dir, download=False)


@pytest.fixture(scope='session')
def mnist_judge(mnist_data_dir):
    """The judge of the suite's data directory (its classifier and reference)."""
    return judge.Evaluator('mnist', mnist_data_dir)


def train_with_monitor(mnist, steps, monitor, loss='non_saturating', lr_d=2e-4,
                       lr_g=2e-4, gan=None):
    keras.utils.set_random_seed(0)
    config = Config(loss=loss, lr_d=lr_d, lr_g=lr_g, seed=0)
    gan = gan or runs.build_gan(config, mnist.image_shape)
    batches = gan_data.train_batches(mnist, config.batch_size, config.seed)
    gan.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[monitor])
    return gan


# Slow: in the default suite, the learning test sees a DCGAN's D lead the first
# hundred steps of a real run (fired, then cleared).
@pytest.mark.slow
@pytest.mark.parametrize('loss', ['non_saturating', 'minimax'])  # minimax: 200 steps
def test_a_discriminator_learning_100_times_faster_is_named(mnist, loss):
    monitor = callbacks.HealthMonitor(stream=io.StringIO())
    train_with_monitor(mnist, 200 if loss == 'minimax' else 100, monitor,
                       loss=loss, lr_d=2e-4, lr_g=2e-6)
    # Measured (seed 0): overpowering fires at step 50, the first full window, for
    # both losses; minimax's gradient, which scales with D(G(z)), vanishes at 177.
    steps = dict((kind, step) for step, kind in fired(monitor))
    assert steps['discriminator_overpowering'] <= 60
    if loss == 'minimax':
        assert 150 <= steps['vanishing_generator_gradient'] <= 200
        assert '--loss=non_saturating' in monitor.findings[-1].suggestion
    else:
        assert set(steps) == {'discriminator_overpowering'}
    warning = monitor.stream.getvalue().splitlines()[0]
    assert warning.startswith('health: step ') and 'Try: --lr_d=5e-05' in warning


class OneImage(keras.layers.Layer):
    """A generator forced to one output: a trainable image, the same for every z."""

    def __init__(self, image, **kwargs):
        super().__init__(**kwargs)
        # Within 1e-6 of the image (the judge tells a background of -0.99 from
        # real ones), where tanh is so flat that training barely moves it.
        self.image = np.arctanh(np.clip(image, -1 + 1e-6, 1 - 1e-6)).astype(np.float32)

    def build(self, input_shape):
        self.logits = self.add_weight(
            shape=self.image.shape, initializer=keras.initializers.Constant(self.image))

    def call(self, z):
        return keras.ops.broadcast_to(keras.ops.tanh(self.logits)[None],
                                      (keras.ops.shape(z)[0], *self.image.shape))


def test_a_generator_with_one_output_is_mode_collapse_and_stops(
        mnist, mnist_judge, tmp_path):
    example = next(iter(mnist.examples.filter(lambda e: e['label'] == 3)))
    image = gan_data.to_unit_range(example['image']).numpy()
    keras.utils.set_random_seed(0)
    generator = keras.Sequential([keras.Input((100,)), OneImage(image)])
    _, discriminator = models.build('mlp', mnist.image_shape)
    gan = GAN(generator, discriminator, latent_dim=100, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    real = next(iter(gan_data.train_batches(mnist, 64, 0))).numpy()
    writer = tf.summary.create_file_writer(str(tmp_path / 'tensorboard'))
    monitor = callbacks.HealthMonitor(str(tmp_path), writer, mnist_judge, real,
                                   probe_every=20, stop_on_collapse=True,
                                   stream=io.StringIO())
    train_with_monitor(mnist, 200, monitor, gan=gan)
    writer.close()

    # Two consecutive probes (steps 20, 40) agree: it fires and stops at step 40.
    assert int(gan.step) == 2 * 20
    kinds = {f.kind: f for f in monitor.findings if f.event == 'fired'}
    assert kinds['mode_collapse'].message.startswith('mode collapse: 1 of 10 classes')
    assert kinds['mode_collapse'].step == 40
    assert kinds['low_diversity'].step == 40  # every sample the same image: 0.00
    assert monitor.probes[-1]['diversity'] < 1e-3
    assert monitor.stop_reason == kinds['mode_collapse'].message

    records = [json.loads(line) for line in open(tmp_path / 'health.jsonl')]
    assert [r['event'] for r in records] == ['fired', 'fired', 'stopped']
    assert records[0]['suggestion'] and records[0]['step'] == 40
    assert [f.kind for f in health.read_findings(str(tmp_path))] == [
        'mode_collapse', 'low_diversity', 'mode_collapse']
    texts = []
    for event_file in (tmp_path / 'tensorboard').iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            texts += [(event.step, tf.make_ndarray(v.tensor).item().decode())
                      for v in event.summary.value if v.tag == 'health']
    assert (40, '**fired** ' + kinds['mode_collapse'].line()) in texts


@pytest.mark.slow
def test_a_healthy_run_stays_quiet(mnist, mnist_judge):
    """The default MLP for 600 steps: no finding (the default suite's learning
    test watches a DCGAN, whose discriminator wins its first hundred steps)."""
    real = next(iter(gan_data.train_batches(mnist, 64, 0))).numpy()
    monitor = callbacks.HealthMonitor(judge=mnist_judge, real_images=real,
                                      probe_every=100, stream=io.StringIO())
    train_with_monitor(mnist, 600, monitor)
    assert monitor.findings == [], monitor.stream.getvalue()
    assert monitor.probes[-1]['diversity'] > 0.4
