"""Generator/discriminator architectures, selected by name (`--arch`).

Every architecture is a pair of Keras subclassed models with the same constructor,
`Model(image_shape, widths=None)`: the generator maps noise [batch, latent_dim] to
images [batch, *image_shape] in [-1, 1]; the discriminator maps images to one
logit per image, shape [batch]. `widths` is the architecture's own notion of size
(units per dense layer, filters per conv layer); None means its default.
Both return float32 (`layers.float32`), whatever their layers compute in.
Discriminators that can be spectrally normalised (Miyato et al. 2018) also take
`spectral_norm=False`; all built-in ones do, and sagan's always is.
Adding an architecture means writing its two classes and one entry in
`gan_tf.registry.ARCHITECTURES`, or, from outside the package, calling `register`
before the flags are parsed. `num_classes` makes any pair class-conditional
(`conditional.py`); its discriminator then needs `features` and `to_logit`, as
the built-in ones have.
"""
import inspect

from gan_tf import registry
from gan_tf.models import conditional

register = registry.register_architecture


def build(arch, image_shape, g_widths=None, d_widths=None, spectral_norm=False,
          num_classes=0, auxiliary_classifier=False):
    """Returns (generator, discriminator) of architecture `arch` for `image_shape`.

    `spectral_norm`: spectrally normalise the discriminator. Passed on only when
    set, so registered discriminators without that argument keep working.
    `num_classes`: if set, the class-conditional pair (`conditional.conditional`),
    its discriminator an auxiliary classifier if `auxiliary_classifier` (ACGAN).
    """
    generator, discriminator = registry.architecture(arch).classes()
    d_options = {}
    if spectral_norm:
        if 'spectral_norm' not in inspect.signature(discriminator).parameters:
            raise ValueError(f'architecture {arch!r} has no spectral_norm option')
        d_options['spectral_norm'] = True
    pair = (generator(image_shape, widths=g_widths or None),
            discriminator(image_shape, widths=d_widths or None, **d_options))
    if num_classes:
        return conditional.conditional(*pair, num_classes, auxiliary_classifier)
    return pair
