"""Training on real MNIST must make recognisable digits of many kinds, judged by
the judging classifier while the health monitor watches: a GAN that does not
learn, or learns one digit, fails here. The default suite trains a conditional
DCGAN, which also shows its digits follow the requested classes; the slow suite
an unconditional one."""
import io

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import Config, callbacks, health, judge, runs
from gan_tf import data as gan_data

STEPS = 400


def train_watched(config, mnist_data_dir):
    """(evaluator, monitor, gan, noise, before) after STEPS steps of `config` on
    MNIST, the health monitor probing every 100 steps; `before`: the untrained
    generator's samples of `noise` scored."""
    keras.utils.set_random_seed(0)  # initial weights: independent of other tests
    images = gan_data.load('mnist', mnist_data_dir, download=False)
    batches = gan_data.train_batches(images, config.batch_size, config.seed,
                                     labels=config.conditional)
    gan = runs.build_gan(config, images.image_shape,
                         images.num_classes if config.conditional else 0)
    evaluator = judge.Evaluator('mnist', mnist_data_dir)
    noise = gan.sample_noise(1000)
    before = evaluator.score(gan(noise).numpy(), kid_subsets=10)
    real = next(iter(batches))
    monitor = callbacks.HealthMonitor(
        judge=evaluator, real_images=(real[0] if config.conditional else real).numpy(),
        probe_every=100, stream=io.StringIO())
    gan.fit(batches, steps_per_epoch=STEPS, epochs=1, verbose=0, shuffle=False,
            callbacks=[monitor])
    return evaluator, monitor, gan, noise, before


def assert_learned_and_healthy(before, after, monitor):
    print(f'before: {before}\nafter: {after}\nprobes: {monitor.probes}\n'
          f'findings: {monitor.findings}')
    assert before['precision'] < 0.01 and before['classes_covered'] <= 2
    assert after['fid'] < before['fid'] / 5 and after['classes_covered'] >= 7
    assert monitor.probes[-1]['realistic'] >= health.RECOGNISABLE_SHARE, monitor.probes
    # The monitor names no lasting problem: D wins the first hundred steps of a
    # DCGAN (fired, with its advice, then cleared), nothing collapses, nothing
    # turns non-finite.
    fired = {f.kind for f in monitor.findings if f.event == 'fired'}
    cleared = {f.kind for f in monitor.findings if f.event == 'cleared'}
    assert fired == cleared == {'discriminator_overpowering'}, monitor.findings
    warning = monitor.stream.getvalue().splitlines()[0]
    assert warning.startswith('health: step ') and 'Try: --lr_d=5e-05' in warning, warning


def test_a_conditional_dcgan_learns_digits_of_the_requested_classes(mnist_data_dir):
    """Measured with the suite's judge after 400 steps of 32 images (seeds 0, 1,
    2): FID 237 untrained to 21, 24, 21; 9, 9, 10 classes covered; 52%, 88%, 70%
    of the probe's samples among real digits; the requested class 77%, 72%, 94% of
    the time, with 8, 7, 10 classes over half the time (chance: 10%). Batches of
    64, the default, took a third more CPU and gave 87%, 76%, 49% of the
    requested class."""
    config = Config(arch='dcgan', dataset='mnist', conditional=True, batch_size=32, seed=0)
    evaluator, monitor, gan, noise, before = train_watched(config, mnist_data_dir)
    labels = np.arange(len(noise)) % 10
    samples = gan(noise, tf.constant(labels)).numpy()
    assert_learned_and_healthy(before, evaluator.score(samples, kid_subsets=10), monitor)

    classifier, info = judge.load_classifier('mnist', mnist_data_dir)
    assert info['test_accuracy'] > 0.95  # a judge worth the name
    predicted = np.argmax(classifier.predict(samples, verbose=0), axis=1)
    accuracy = np.mean(predicted == labels)
    print(f'requested class: {accuracy:.3f}')
    assert accuracy > 0.5, accuracy
    # Most classes are produced on request, not only a few easy ones.
    per_class = [np.mean(predicted[labels == k] == k) for k in range(10)]
    assert sum(share > 0.5 for share in per_class) >= 6, per_class


@pytest.mark.slow
def test_the_default_dcgan_learns_digits_of_most_kinds(mnist_data_dir):
    """Measured with the suite's judge (seeds 0, 1, 2): untrained, every sample
    one blob (FID 206, nothing among real images); after 400 steps FID 22 to
    25, 10 classes, 62% to 68% of the probe's samples among real digits, and
    D's early lead cleared (at 300 steps it had not, for two of the seeds)."""
    config = Config(arch='dcgan', dataset='mnist', seed=0)
    evaluator, monitor, gan, noise, before = train_watched(config, mnist_data_dir)
    assert_learned_and_healthy(before, evaluator.score(gan(noise).numpy(), kid_subsets=10),
                               monitor)
