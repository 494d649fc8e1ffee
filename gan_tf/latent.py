"""The latent z: its distributions, draws from a seed, walks between points, and
generating from many of them in batches."""
import keras
import numpy as np
import tensorflow as tf

from gan_tf import distribute


def sample_noise(kind, batch_size, latent_dim, seed_generator):
    """`batch_size` latent vectors from `kind` ('normal': standard normal,
    'uniform': in [-1, 1]), drawn from a stateful `keras.random.SeedGenerator`
    (training: each replica its slice of the global batch's draw)."""
    shape = (batch_size, latent_dim)
    if kind == 'uniform':
        return distribute.draw(keras.random.uniform, shape, -1.0, 1.0, seed=seed_generator)
    return distribute.draw(keras.random.normal, shape, seed=seed_generator)


def noise_from_seed(kind, num, latent_dim, seed, stream=0):
    """z as `sample_noise` draws it, but stateless: a function of (seed, stream).

    The export's `generate` signature uses stream 0; so do `gan_tf.sample`, the
    scorings during training and the health monitor's probes, each with its own
    seed, none touching the training's random state.
    """
    shape = tf.stack([num, latent_dim])
    seed = tf.cast(tf.stack([seed, stream]), tf.int64)
    if kind == 'uniform':
        return tf.random.stateless_uniform(shape, seed, minval=-1.0, maxval=1.0)
    return tf.random.stateless_normal(shape, seed)


def interpolate(a, b, t, kind):
    """The point a fraction `t` of the way from `a` to `b` (rows of latent
    vectors): linear for uniform noise; spherical for normal noise, so that
    intermediate points keep the norm typical of Gaussian samples (White 2016,
    "Sampling generative networks")."""
    if kind == 'uniform':
        return (1 - t) * a + t * b
    cos = np.sum(a * b, axis=1, keepdims=True) / (
        np.linalg.norm(a, axis=1, keepdims=True) * np.linalg.norm(b, axis=1, keepdims=True))
    omega = np.arccos(np.clip(cos, -1, 1))
    sin = np.maximum(np.sin(omega), 1e-6)
    return (np.sin((1 - t) * omega) / sin * a + np.sin(t * omega) / sin * b).astype(np.float32)


def generate(generator, z, labels=None, batch_size=500):
    """`generator(z)`, or `generator(z, labels)`, for many z, `batch_size` at a
    time, as one numpy array: all at once would hold every activation in memory."""
    z = np.asarray(z, np.float32)
    outputs = []
    for start in range(0, len(z), batch_size):
        part = [z[start:start + batch_size]]
        if labels is not None:
            part.append(np.asarray(labels[start:start + batch_size], np.int32))
        outputs.append(np.asarray(generator(*part)))
    return np.concatenate(outputs)
