"""Class-conditional players for any architecture: wrappers around an unconditional pair.

`ConditionalGenerator` concatenates a learned embedding of the label to z and
hands the result to its base generator (Mirza & Osindero 2014, "Conditional
Generative Adversarial Nets", with a learned embedding of the one-hot code).

`ConditionalDiscriminator` reads its base discriminator's features h (the input
of its logit layer) and adds one linear map from h to per-class scores s(h):
  projection (default): logit = base logit(h) + s(h)[y], where s(h)[y] = <W_y, h>
    is the inner product of h with the label's embedding W_y (Miyato & Koyama
    2018, "cGANs with Projection Discriminator", eq. 3);
  auxiliary_classifier: the logit is the base's own, label-blind, and s(h) are
    class logits for the ACGAN loss (Odena et al. 2017); `call` returns both.

So a discriminator can be conditioned when it has `features(images, training)`
-> [batch, dim] and a `to_logit` layer mapping those to [batch, 1]; all
built-in ones do. Both wrappers take the labels, int [batch] in
[0, num_classes), as the second call argument. The generator's may be left
out: image i then gets class i % num_classes, so code that samples from noise
alone (sample quality scoring, the health monitor) sees every class equally.
"""
import keras
from keras import layers, ops

from gan_tf.models.layers import float32, spectral

# Size of the generator's label embedding; z has 100 by default.
EMBEDDING_DIM = 50


def cycling_labels(num, num_classes):
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: `num` of them, int32."""
    return ops.mod(ops.arange(num, dtype='int32'), num_classes)


@keras.saving.register_keras_serializable(package='gan_tf')
class ConditionalGenerator(keras.Model):
    """(z, labels) -> base([z, embedding(labels)])."""

    def __init__(self, base, num_classes, embedding_dim=EMBEDDING_DIM, **kwargs):
        super().__init__(**kwargs)
        self.base, self.num_classes = base, num_classes
        self.embedding_dim = embedding_dim
        # An embedding as a bias-free dense layer on one-hot labels: the same map,
        # with a dense gradient (an Embedding's is sparse, which the optimizer
        # step does not take). Unit scale, like z's, so the label is heard.
        self.embed = layers.Dense(
            embedding_dim, use_bias=False,
            kernel_initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, z, labels=None, training=False):
        if labels is None:
            labels = cycling_labels(ops.shape(z)[0], self.num_classes)
        code = self.embed(ops.one_hot(ops.cast(labels, 'int32'), self.num_classes,
                                      dtype=z.dtype))
        return self.base(ops.concatenate([z, code], axis=-1), training=training)

    def get_config(self):
        return {**super().get_config(), 'base': keras.saving.serialize_keras_object(self.base),
                'num_classes': self.num_classes, 'embedding_dim': self.embedding_dim}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop('base')), **config)


@keras.saving.register_keras_serializable(package='gan_tf')
class ConditionalDiscriminator(keras.Model):
    """(images, labels) -> projection logit [batch]; with `auxiliary_classifier`,
    (label-blind logit [batch], class logits [batch, num_classes])."""

    def __init__(self, base, num_classes, auxiliary_classifier=False, **kwargs):
        if not (callable(getattr(base, 'features', None)) and hasattr(base, 'to_logit')):
            raise ValueError(
                f'{type(base).__name__} cannot be made conditional: it needs a '
                '`features(images, training)` method and a `to_logit` layer '
                '(see gan_tf.models.conditional); train it without --conditional')
        super().__init__(**kwargs)
        self.base, self.num_classes = base, num_classes
        self.auxiliary_classifier = auxiliary_classifier
        # The embeddings W_y as the columns of one dense kernel, so that a
        # spectrally normalised base gets them normalised too (as Miyato &
        # Koyama's SNGAN projection does); a classifier keeps its biases.
        self.class_scores = spectral(
            layers.Dense(num_classes, use_bias=auxiliary_classifier),
            getattr(base, 'spectral_norm', False))

    def build(self, images_shape, labels_shape=None):
        images = keras.KerasTensor(images_shape)
        self.base(images)  # `call` uses only the base's parts, never the base itself
        self.class_scores(self.base.features(images))

    def call(self, images, labels, training=False):
        features = self.base.features(images, training=training)
        logits = float32(self.base.to_logit(features, training=training)[:, 0])
        scores = float32(self.class_scores(features, training=training))
        if self.auxiliary_classifier:
            return logits, scores
        chosen = ops.one_hot(ops.cast(labels, 'int32'), self.num_classes, dtype=scores.dtype)
        return logits + ops.sum(scores * chosen, axis=-1)

    def get_config(self):
        return {**super().get_config(), 'base': keras.saving.serialize_keras_object(self.base),
                'num_classes': self.num_classes,
                'auxiliary_classifier': self.auxiliary_classifier}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop('base')), **config)


def conditional(generator, discriminator, num_classes, auxiliary_classifier=False):
    """The class-conditional pair made from an unconditional one."""
    return (ConditionalGenerator(generator, num_classes),
            ConditionalDiscriminator(discriminator, num_classes, auxiliary_classifier))
