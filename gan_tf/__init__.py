"""gan_tf: Generative Adversarial Networks in TensorFlow 2 / Keras 3.

`gan_tf.Config` holds every training option; `gan_tf.gan.GAN` is the Keras model;
`gan_tf.train.train_and_evaluate(config)` runs the whole command-line job. This
package module imports nothing heavy, so that the commands check their flags
before TensorFlow starts (see ARCHITECTURE.md for the layers).
"""
import os

# TensorFlow's C++ chatter (CPU features, CUDA probing) would hide our output.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from gan_tf.config import Config  # noqa: E402

__all__ = ['Config']
