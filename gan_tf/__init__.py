"""gan_tf: Generative Adversarial Networks in TensorFlow 2 / Keras 3."""
import os

# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) hides our output.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from gan_tf.config import Config  # noqa: E402
from gan_tf.gan import GAN  # noqa: E402

__all__ = ['Config', 'GAN']
