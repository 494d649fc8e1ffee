import math

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import config, losses, registry

REAL = [0.0, 2.0, -1.0]
FAKE = [0.0, -3.0, 0.5]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def softplus(x):
    return math.log(1.0 + math.exp(x))


def mean(values):
    return sum(values) / len(values)


def value(function, *args, **kwargs):
    return float(function(*(tf.constant(a) for a in args), **kwargs))


def test_minimax_discriminator_loss_is_the_paper_value():
    # -E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logit).
    expected = (-mean([math.log(sigmoid(l)) for l in REAL])
                - mean([math.log(1 - sigmoid(l)) for l in FAKE]))
    got = losses.minimax_discriminator_loss(tf.constant(REAL), tf.constant(FAKE))
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_one_sided_label_smoothing_makes_the_real_target_one_minus_s():
    # Cross-entropy against target 0.9 for real images, 0 (unchanged) for fakes.
    expected = (-mean([0.9 * math.log(sigmoid(l)) + 0.1 * math.log(1 - sigmoid(l))
                       for l in REAL])
                - mean([math.log(1 - sigmoid(l)) for l in FAKE]))
    got = value(losses.minimax_discriminator_loss, REAL, FAKE, label_smoothing=0.1)
    assert got == pytest.approx(expected, rel=1e-6)


def test_minimax_generator_loss_is_log_one_minus_d():
    expected = mean([math.log(1 - sigmoid(l)) for l in FAKE])
    assert float(losses.minimax_generator_loss(tf.constant(FAKE))) == pytest.approx(
        expected, rel=1e-6)


def test_non_saturating_generator_loss_is_minus_log_d():
    expected = -mean([math.log(sigmoid(l)) for l in FAKE])
    assert float(losses.non_saturating_generator_loss(tf.constant(FAKE))) == pytest.approx(
        expected, rel=1e-6)


def test_hand_computed_values_at_zero_logits():
    # D = 1/2 everywhere: D loss = 2 log 2, minimax G = -log 2, non-saturating G = log 2.
    zeros = tf.zeros([4])
    assert float(losses.minimax_discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))
    assert float(losses.minimax_generator_loss(zeros)) == pytest.approx(-math.log(2))
    assert float(losses.non_saturating_generator_loss(zeros)) == pytest.approx(math.log(2))


def test_wasserstein_losses():
    # mean(FAKE) = -2.5/3, mean(REAL) = 1/3.
    assert value(losses.wasserstein_discriminator_loss, REAL, FAKE) == pytest.approx(-3.5 / 3)
    assert value(losses.wasserstein_generator_loss, FAKE) == pytest.approx(2.5 / 3)


def test_hinge_losses():
    # relu(1 - REAL) = [1, 0, 2]; relu(1 + FAKE) = [1, 0, 1.5].
    assert value(losses.hinge_discriminator_loss, REAL, FAKE) == pytest.approx(1 + 2.5 / 3)
    assert value(losses.hinge_generator_loss, FAKE) == pytest.approx(2.5 / 3)


def test_least_squares_losses():
    # (REAL - 1)^2 = [1, 1, 4], FAKE^2 = [0, 9, 0.25], (FAKE - 1)^2 = [1, 16, 0.25].
    assert value(losses.least_squares_discriminator_loss, REAL, FAKE) == pytest.approx(
        0.5 * (6 / 3 + 9.25 / 3))
    assert value(losses.least_squares_generator_loss, FAKE) == pytest.approx(0.5 * 17.25 / 3)


def test_energy_is_minus_log_d_and_never_negative():
    assert value(losses.energy, 0.0) == pytest.approx(math.log(2))
    energies = losses.energy(tf.constant([-1e4, -3.0, 0.0, 3.0, 1e4])).numpy()
    assert np.all(energies >= 0) and np.all(np.diff(energies) <= 0)  # lower for "real"


@pytest.mark.parametrize('margin', [1.0, 2.0])
def test_energy_discriminator_loss_is_data_energy_plus_hinge_at_the_margin(margin):
    energy = lambda l: softplus(-l)  # noqa: E731
    # FAKE energies: log 2 = 0.69, 3.05, 0.47: the second is past margin 1 and 2.
    expected = (mean([energy(l) for l in REAL]) +
                mean([max(0.0, margin - energy(l)) for l in FAKE]))
    got = value(losses.energy_discriminator_loss, REAL, FAKE, margin=margin)
    assert got == pytest.approx(expected, rel=1e-6)


def test_energy_generator_loss_with_and_without_the_pulling_away_term():
    data_energy = mean([softplus(-l) for l in FAKE])
    # Three 2-pixel "images": cos^2 is 0 for the first pair and 1/2 for the two
    # others, so the pulling-away term is 2 * (0 + 1/2 + 1/2) / (3 * 2) = 1/3.
    images = tf.constant([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    assert value(losses.energy_generator_loss, FAKE) == pytest.approx(data_energy)
    assert float(losses.energy_generator_loss(tf.constant(FAKE), images)) == pytest.approx(
        data_energy)  # pt_weight 0: the term is off
    got = float(losses.energy_generator_loss(tf.constant(FAKE), images, pt_weight=0.3))
    assert got == pytest.approx(data_energy + 0.3 / 3, rel=1e-6)


def test_pulling_away_term_is_one_for_identical_samples_and_zero_for_orthogonal():
    same = tf.ones([4, 3, 3, 1])
    orthogonal = tf.reshape(tf.eye(4), [4, 2, 2, 1])
    assert float(losses.pulling_away_term(same)) == pytest.approx(1.0, rel=1e-6)
    assert float(losses.pulling_away_term(orthogonal)) == pytest.approx(0.0, abs=1e-7)


def test_relativistic_average_losses():
    mean_real, mean_fake = mean(REAL), mean(FAKE)
    # D: -log sigmoid(C(x) - mean C(G(z))) - log(1 - sigmoid(C(G(z)) - mean C(x))).
    d_expected = (mean([-math.log(sigmoid(r - mean_fake)) for r in REAL]) +
                  mean([-math.log(1 - sigmoid(f - mean_real)) for f in FAKE]))
    # G: the same with the roles of real and fake swapped.
    g_expected = (mean([-math.log(sigmoid(f - mean_real)) for f in FAKE]) +
                  mean([-math.log(1 - sigmoid(r - mean_fake)) for r in REAL]))
    assert value(losses.relativistic_discriminator_loss, REAL, FAKE) == pytest.approx(
        d_expected, rel=1e-6)
    got = float(losses.relativistic_generator_loss(tf.constant(FAKE), tf.constant(REAL)))
    assert got == pytest.approx(g_expected, rel=1e-6)


def test_relativistic_losses_ignore_a_shift_of_every_logit():
    shifted = [l + 7.0 for l in REAL], [l + 7.0 for l in FAKE]
    assert value(losses.relativistic_discriminator_loss, *shifted) == pytest.approx(
        value(losses.relativistic_discriminator_loss, REAL, FAKE), rel=1e-6)


REAL_CLASSES = [[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 3.0, 0.5]]
FAKE_CLASSES = [[0.0, 1.0, 0.0], [-2.0, 4.0, 1.0], [0.5, 0.5, 2.0]]
LABELS = [0, 2, 1]


def cross_entropy(logits, label):
    """-log softmax(logits)[label]."""
    return -math.log(math.exp(logits[label]) / sum(math.exp(l) for l in logits))


def test_acgan_losses_add_the_class_cross_entropy_on_real_and_fake():
    assert cross_entropy([0.0, 0.0, 0.0], 2) == pytest.approx(math.log(3))  # uniform
    real_ce = mean([cross_entropy(l, y) for l, y in zip(REAL_CLASSES, LABELS)])
    fake_ce = mean([cross_entropy(l, y) for l, y in zip(FAKE_CLASSES, LABELS)])
    source = (-mean([math.log(sigmoid(l)) for l in REAL])
              - mean([math.log(1 - sigmoid(l)) for l in FAKE]))
    d_loss = losses.acgan_discriminator_loss(
        tf.constant(REAL), tf.constant(FAKE), tf.constant(REAL_CLASSES),
        tf.constant(FAKE_CLASSES), tf.constant(LABELS), aux_weight=0.5)
    assert float(d_loss) == pytest.approx(source + 0.5 * (real_ce + fake_ce), rel=1e-6)
    g_loss = losses.acgan_generator_loss(tf.constant(FAKE), tf.constant(FAKE_CLASSES),
                                         tf.constant(LABELS), aux_weight=0.5)
    assert float(g_loss) == pytest.approx(
        -mean([math.log(sigmoid(l)) for l in FAKE]) + 0.5 * fake_ce, rel=1e-6)


def test_acgan_without_its_class_term_is_the_non_saturating_pair():
    classes = tf.constant(FAKE_CLASSES), tf.constant(LABELS)
    assert float(losses.acgan_discriminator_loss(
        tf.constant(REAL), tf.constant(FAKE), tf.constant(REAL_CLASSES), *classes,
        aux_weight=0.0)) == pytest.approx(value(losses.minimax_discriminator_loss,
                                                REAL, FAKE), rel=1e-6)
    assert float(losses.acgan_generator_loss(tf.constant(FAKE), *classes,
                                             aux_weight=0.0)) == pytest.approx(
        value(losses.non_saturating_generator_loss, FAKE), rel=1e-6)
    assert registry.loss('acgan').conditional
    assert not any(registry.loss(n).conditional for n in registry.LOSSES if n != 'acgan')


def test_gradient_penalty_and_r1_from_known_input_gradients():
    # A linear critic D(x) = w.x has input gradient w at every x.
    w = np.array([[0.6, -0.8, 1.2], [0.0, 0.0, 3.0]], np.float32)  # |w| = 1.72, 3
    norms = np.linalg.norm(w, axis=1)
    gradients = tf.constant(w)
    assert float(losses.gradient_penalty(gradients)) == pytest.approx(
        np.mean((norms - 1) ** 2), rel=1e-5)
    assert float(losses.r1_penalty(gradients)) == pytest.approx(np.mean(norms ** 2), rel=1e-6)


def test_gradient_penalty_has_a_finite_gradient_at_a_zero_input_gradient():
    # Without the epsilon inside the square root, d|g|/dg at g = 0 is 0/0: NaN.
    gradients = tf.Variable(tf.zeros([2, 4, 4, 1]))
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(gradients)
    assert float(penalty) == pytest.approx(1.0, rel=1e-5)
    assert np.all(np.isfinite(tape.gradient(penalty, gradients).numpy()))


def inputs(names, real):
    """The extra keyword tensors a loss function declares (`names`), for a batch
    the size of `real`."""
    n = int(tf.size(real))
    available = {'real_logits': real, 'fake_images': tf.ones([n, 2, 2, 1]),
                 'real_class_logits': tf.zeros([n, 4]),
                 'fake_class_logits': tf.zeros([n, 4]), 'labels': tf.range(n) % 4}
    return {name: available[name] for name in names}


@pytest.mark.parametrize('name', sorted(registry.LOSSES))
def test_losses_and_gradients_stay_finite_for_extreme_logits(name):
    loss = registry.loss(name)
    real = tf.Variable([-1e4, 1e4, 80.0])
    fake = tf.Variable([1e4, -1e4, -80.0])
    with tf.GradientTape() as tape:
        discriminator, generator = loss.functions()
        total = (discriminator(real, fake, **inputs(loss.discriminator_inputs, real)) +
                 generator(fake, **inputs(loss.generator_inputs, real)))
    gradients = tape.gradient(total, [real, fake])
    assert np.isfinite(float(total))
    assert all(g is None or np.all(np.isfinite(g.numpy())) for g in gradients)


@pytest.mark.parametrize('name', sorted(registry.LOSSES))
def test_each_player_gains_by_moving_the_logits_its_own_way(name):
    # D's loss falls as real logits rise and fake logits fall; G's as fake rise.
    loss = registry.loss(name)
    real, fake = tf.Variable([0.3, 0.6]), tf.Variable([0.2, 0.4])  # inside every margin
    with tf.GradientTape(persistent=True) as tape:
        discriminator, generator = loss.functions()
        d_loss = discriminator(real, fake, **inputs(loss.discriminator_inputs, real))
        g_loss = generator(fake, **inputs(loss.generator_inputs, real))
    d_real, d_fake = tape.gradient(d_loss, [real, fake])
    assert np.all(d_real.numpy() < 0) and np.all(d_fake.numpy() > 0)
    assert np.all(tape.gradient(g_loss, fake).numpy() < 0)


def test_saturating_loss_has_vanishing_gradient_where_non_saturating_does_not():
    # The reason the paper proposes the non-saturating loss: when D rejects the
    # fakes (logit -10), log(1 - D) has almost no gradient, -log D a strong one.
    fake = tf.Variable([-10.0])
    with tf.GradientTape(persistent=True) as tape:
        saturating = losses.minimax_generator_loss(fake)
        non_saturating = losses.non_saturating_generator_loss(fake)
    assert abs(float(tape.gradient(saturating, fake)[0])) < 1e-4
    assert abs(float(tape.gradient(non_saturating, fake)[0])) > 0.99


def test_the_papers_discriminator_steps_and_clipping():
    assert registry.loss('wasserstein').default_d_steps == 5
    assert registry.loss('wasserstein').default_clip == 0.01
    assert registry.loss('wgan_gp').default_d_steps == 5
    assert registry.loss('wgan_gp').default_clip == 0 and registry.loss('wgan_gp').gradient_penalty
    assert {registry.loss(n).default_d_steps for n in registry.LOSSES
            if n not in ('wasserstein', 'wgan_gp')} == {1}


def test_options_a_loss_would_ignore_are_rejected():
    config.check_gan_options('non_saturating', label_smoothing=0.1)  # fine
    config.check_gan_options('energy', pt_weight=0.1)
    config.check_gan_options('wasserstein', label_smoothing=0.0, pt_weight=0.0)  # off: fine
    with pytest.raises(ValueError, match='label_smoothing=0.1: no effect .*minimax, '
                                         'non_saturating'):
        config.check_gan_options('wasserstein', label_smoothing=0.1)
    with pytest.raises(ValueError, match='pt_weight=0.5: .*energy'):
        config.check_gan_options('hinge', pt_weight=0.5)
    with pytest.raises(ValueError, match='aux_weight=2.0: no effect .*acgan'):
        config.check_gan_options('hinge', aux_weight=2.0)


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match='energy, hinge, least_squares, minimax'):
        registry.loss('nope')
