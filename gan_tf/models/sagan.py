"""Self-attention GAN: Zhang et al. 2019, "Self-Attention Generative Adversarial Networks".

The DCGAN players of `dcgan` with one self-attention block (`layers.SelfAttention`)
at the middle resolution of each (14x14 for 28x28 images), and spectral
normalisation (Miyato et al. 2018) on every weight layer of the discriminator,
attention included; so the discriminator has no batch-norm. The paper also
normalises the generator and trains with unequal learning rates (TTUR:
lr_d 4e-4, lr_g 1e-4); the latter is a flag (see examples/sagan.flags).
"""
import keras

from gan_tf.models import dcgan


@keras.saving.register_keras_serializable(package='gan_tf')
class SAGANGenerator(dcgan.DCGANGenerator):
    """DCGANGenerator with self-attention after its middle feature map."""

    self_attention = True


@keras.saving.register_keras_serializable(package='gan_tf')
class SAGANDiscriminator(dcgan.DCGANDiscriminator):
    """Spectrally normalised DCGANDiscriminator with self-attention at its middle."""

    self_attention = True

    def __init__(self, image_shape, widths=None, spectral_norm=True, **kwargs):
        if not spectral_norm:
            raise ValueError("sagan's discriminator is always spectrally normalised; "
                             'for one without, use dcgan')
        super().__init__(image_shape, widths, spectral_norm=True, **kwargs)
