import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf.optimizers import FusedAdam


@pytest.mark.parametrize('compiled', [False, True])
def test_fused_adam_follows_keras_adam(compiled):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(7, 5)).astype('float32'), rng.normal(size=5).astype('float32')]
    grads = [[rng.normal(size=v.shape).astype('float32') for v in start] for _ in range(20)]
    weights = {}
    for cls in (keras.optimizers.Adam, FusedAdam):
        variables = [keras.Variable(v) for v in start]
        optimizer = cls(learning_rate=0.01, beta_1=0.5)
        optimizer.build(variables)
        apply = lambda g: optimizer.apply_gradients(zip(g, variables))
        if compiled:
            apply = tf.function(apply)
        for g in grads:
            apply([tf.constant(x) for x in g])
        weights[cls] = [v.numpy() for v in variables]
        assert int(optimizer.iterations) == 20
    for keras_w, fused_w in zip(weights[keras.optimizers.Adam], weights[FusedAdam]):
        assert not np.allclose(keras_w, start[0] if keras_w.ndim == 2 else start[1])
        np.testing.assert_allclose(fused_w, keras_w, rtol=1e-5, atol=1e-6)
