"""Optimizers tuned for GAN training steps on CPU."""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package='gan_tf')
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, each update done by TensorFlow's fused Adam kernel.

    Same algorithm (Kingma & Ba 2015, with epsilon outside the square root as in
    Keras), same slot variables, so checkpoints are interchangeable. Keras' Adam
    spends about eight element-wise passes over every weight; the fused kernel
    reads and writes each weight and slot once (BUILD.md, "Benchmarks").
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))
