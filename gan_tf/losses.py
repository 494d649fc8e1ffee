"""GAN losses: one pure function pair per loss, computed from discriminator logits.

Each loss is a `(discriminator_loss, generator_loss)` pair registered in `LOSSES`.
Adding a loss means writing the two functions and adding one registry entry. Both
functions return a scalar: the mean over the batch. Logits are unbounded scores;
`tf.nn.softplus` keeps every log-sigmoid finite for any logit value.
"""
import dataclasses
from typing import Callable

import tensorflow as tf


def minimax_discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))): the discriminator's side of the game.

    Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1. With
    D = sigmoid(logits): -log sigmoid(l) = softplus(-l) and
    -log(1 - sigmoid(l)) = softplus(l).
    """
    return (tf.reduce_mean(tf.nn.softplus(-real_logits)) +
            tf.reduce_mean(tf.nn.softplus(fake_logits)))


def minimax_generator_loss(fake_logits):
    """log(1 - D(G(z))): the saturating generator loss of the original minimax game.

    Goodfellow et al. 2014, eq. 1. Its gradient vanishes when D confidently rejects
    the samples, which is why the paper recommends the non-saturating variant.
    """
    return -tf.reduce_mean(tf.nn.softplus(fake_logits))


def non_saturating_generator_loss(fake_logits):
    """-log D(G(z)): same fixed point as minimax, strong gradients early in training.

    Goodfellow et al. 2014, section 3 ("maximize log D(G(z))").
    """
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


@dataclasses.dataclass(frozen=True)
class Loss:
    discriminator: Callable  # (real_logits, fake_logits) -> scalar
    generator: Callable  # (fake_logits) -> scalar
    # True when sigmoid(logits) is the probability that the input is real; the
    # training step then reports D(x) and D(G(z)) as probabilities.
    probabilities: bool = True


LOSSES = {
    'minimax': Loss(minimax_discriminator_loss, minimax_generator_loss),
    'non_saturating': Loss(minimax_discriminator_loss,
                           non_saturating_generator_loss),
}


def get(name):
    """The registered `Loss` called `name`; ValueError listing the choices if none."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f'unknown loss {name!r}; choose one of: '
                         f'{", ".join(sorted(LOSSES))}') from None
