"""Training on real MNIST must make recognisable digits of many kinds, judged by
the judging classifier while the health monitor watches: a GAN that does not
learn, or learns one digit, fails here."""
import io

import keras

from gan_tf import Config, callbacks, health, judge, runs
from gan_tf import data as gan_data

STEPS = 400


def test_the_default_dcgan_learns_digits_of_most_kinds(mnist_data_dir):
    keras.utils.set_random_seed(0)  # initial weights: independent of other tests
    config = Config(arch='dcgan', dataset='mnist', seed=0)
    images = gan_data.load('mnist', mnist_data_dir, download=False)
    batches = gan_data.train_batches(images, config.batch_size, config.seed)
    gan = runs.build_gan(config, images.image_shape)
    evaluator = judge.Evaluator('mnist', mnist_data_dir)
    noise = gan.sample_noise(1000)
    before = evaluator.score(gan(noise).numpy(), kid_subsets=10)
    monitor = callbacks.HealthMonitor(judge=evaluator, real_images=next(iter(batches)).numpy(),
                                      probe_every=100, stream=io.StringIO())
    gan.fit(batches, steps_per_epoch=STEPS, epochs=1, verbose=0, callbacks=[monitor])
    after = evaluator.score(gan(noise).numpy(), kid_subsets=10)
    print(f'before: {before}\nafter: {after}\nprobes: {monitor.probes}\n'
          f'findings: {monitor.findings}')

    # Measured with the suite's judge (seeds 0, 1, 2): untrained, every sample
    # one blob (FID 206, nothing among real images); after 400 steps FID 22 to
    # 25, 10 classes, 62% to 68% of the probe's samples among real digits, and
    # D's early lead cleared (at 300 steps it had not, for two of the seeds).
    assert before['precision'] < 0.01 and before['classes_covered'] <= 2
    assert after['fid'] < before['fid'] / 5 and after['classes_covered'] >= 7
    assert monitor.probes[-1]['realistic'] >= health.RECOGNISABLE_SHARE, monitor.probes
    # The monitor names no lasting problem: D wins the first hundred steps of a
    # DCGAN (fired, then cleared), nothing collapses, nothing turns non-finite.
    fired = {f.kind for f in monitor.findings if f.event == 'fired'}
    cleared = {f.kind for f in monitor.findings if f.event == 'cleared'}
    assert fired <= {'discriminator_overpowering'} and fired == cleared, monitor.findings
