import math

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import losses

REAL = [0.0, 2.0, -1.0]
FAKE = [0.0, -3.0, 0.5]


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


def test_minimax_discriminator_loss_is_the_paper_value():
    # -E[log D(x)] - E[log(1 - D(G(z)))] with D = sigmoid(logit).
    expected = (-mean([math.log(sigmoid(l)) for l in REAL])
                - mean([math.log(1 - sigmoid(l)) for l in FAKE]))
    got = losses.minimax_discriminator_loss(tf.constant(REAL), tf.constant(FAKE))
    assert float(got) == pytest.approx(expected, rel=1e-6)


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


@pytest.mark.parametrize('name', sorted(losses.LOSSES))
def test_losses_and_gradients_stay_finite_for_extreme_logits(name):
    loss = losses.get(name)
    real = tf.Variable([-1e4, 1e4, 80.0])
    fake = tf.Variable([1e4, -1e4, -80.0])
    with tf.GradientTape() as tape:
        total = loss.discriminator(real, fake) + loss.generator(fake)
    gradients = tape.gradient(total, [real, fake])
    assert np.isfinite(float(total))
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)


def test_saturating_loss_has_vanishing_gradient_where_non_saturating_does_not():
    # The reason the paper proposes the non-saturating loss: when D rejects the
    # fakes (logit -10), log(1 - D) has almost no gradient, -log D a strong one.
    fake = tf.Variable([-10.0])
    with tf.GradientTape(persistent=True) as tape:
        saturating = losses.minimax_generator_loss(fake)
        non_saturating = losses.non_saturating_generator_loss(fake)
    assert abs(float(tape.gradient(saturating, fake)[0])) < 1e-4
    assert abs(float(tape.gradient(non_saturating, fake)[0])) > 0.99


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match='minimax, non_saturating'):
        losses.get('nope')
