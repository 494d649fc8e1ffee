"""`GAN`: a generator and a discriminator trained by alternating gradient steps."""
import keras
import tensorflow as tf

from gan_tf import losses

NOISE_KINDS = ('normal', 'uniform')
# What every step reports: the players' losses, D's mean score on real (D(x)) and
# fake (D(G(z))) images, and D's accuracy on each.
METRICS = ('d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake')


@keras.saving.register_keras_serializable(package='gan_tf')
class GAN(keras.Model):
    """Trains `generator` and `discriminator` against each other with `fit`.

    Each `train_step` updates the discriminator `d_steps` times, then the generator
    once, each under its own `tf.GradientTape` and touching only its own trainable
    weights. A batch from the dataset holds the real images for all `d_steps`
    discriminator updates: it is split into `d_steps` equal parts, so feed batches
    of `d_steps * batch_size` images (or `(images, labels)` pairs).

    Calling the model, `gan(z)`, generates images from noise `z`. Each training
    step's logs hold that step's METRICS; epoch logs (History, EarlyStopping) and
    `evaluate` hold their means.
    """

    def __init__(self, generator, discriminator, latent_dim=100, noise='normal',
                 d_steps=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if noise not in NOISE_KINDS:
            raise ValueError(f'unknown noise {noise!r}; choose one of: '
                             f'{", ".join(NOISE_KINDS)}')
        if d_steps < 1:
            raise ValueError(f'd_steps must be at least 1, got {d_steps}')
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.noise = noise
        self.d_steps = d_steps
        self.seed = seed
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        # Owned by the model so its state is checkpointed: runs are reproducible.
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Create every weight now, so optimizers and checkpoints can see them
        # before the first step.
        self.discriminator(self.generator(self.sample_noise(1)))
        self.built = True

    def compile(self, d_optimizer, g_optimizer, loss='non_saturating', **kwargs):
        """`loss`: a name registered in `gan_tf.losses.LOSSES`, or a `losses.Loss`."""
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.gan_loss = losses.get(loss) if isinstance(loss, str) else loss
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())  # Keras resets them every epoch

    def get_config(self):
        return {'name': self.name, 'latent_dim': self.latent_dim, 'noise': self.noise,
                'd_steps': self.d_steps, 'seed': self.seed,
                'generator': keras.saving.serialize_keras_object(self.generator),
                'discriminator': keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        players = [keras.saving.deserialize_keras_object(config.pop(name))
                   for name in ('generator', 'discriminator')]
        return cls(*players, **config)

    def get_compile_config(self):
        name = next((n for n, l in losses.LOSSES.items() if l == self.gan_loss), None)
        if name is None:
            raise ValueError('only a GAN compiled with a registered loss can be saved; '
                             'add yours to gan_tf.losses.LOSSES')
        return {'d_optimizer': keras.saving.serialize_keras_object(self.d_optimizer),
                'g_optimizer': keras.saving.serialize_keras_object(self.g_optimizer),
                'loss': name}

    def compile_from_config(self, config):
        self.compile(
            d_optimizer=keras.saving.deserialize_keras_object(config['d_optimizer']),
            g_optimizer=keras.saving.deserialize_keras_object(config['g_optimizer']),
            loss=config['loss'])

    @property
    def step(self):
        """Training steps taken so far (one generator update each)."""
        return self.g_optimizer.iterations

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def sample_noise(self, batch_size):
        """`batch_size` latent vectors, standard normal or uniform in [-1, 1]."""
        shape = (batch_size, self.latent_dim)
        if self.noise == 'uniform':
            return keras.random.uniform(shape, -1.0, 1.0, seed=self.seed_generator)
        return keras.random.normal(shape, seed=self.seed_generator)

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        for real_part in tf.split(real, self.d_steps):
            metrics = self._train_discriminator(real_part)
        metrics['g_loss'] = self._train_generator(tf.shape(real_part)[0])
        self._track(metrics)
        return metrics

    def test_step(self, data):
        """The step's metrics on a batch of real images, without any update."""
        real = data[0] if isinstance(data, (tuple, list)) else data
        fake = self.generator(self.sample_noise(tf.shape(real)[0]), training=False)
        real_logits = self.discriminator(real, training=False)
        fake_logits = self.discriminator(fake, training=False)
        metrics = self._statistics(real_logits, fake_logits, self.gan_loss.discriminator(
            real_logits, fake_logits))
        metrics['g_loss'] = self.gan_loss.generator(fake_logits)
        self._track(metrics)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _track(self, metrics):
        for name, value in metrics.items():
            self.trackers[name].update_state(value)

    def _train_discriminator(self, real):
        fake = self.generator(self.sample_noise(tf.shape(real)[0]), training=True)
        with tf.GradientTape() as tape:
            # Separate calls: a batch-normalised D must not mix real and fake
            # statistics (measured: one concatenated call is no faster on CPU).
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_loss = self.gan_loss.discriminator(real_logits, fake_logits)
        self._descend(self.d_optimizer, tape, d_loss, self.discriminator)
        return self._statistics(real_logits, fake_logits, d_loss)

    def _statistics(self, real_logits, fake_logits, d_loss):
        """D's loss, mean scores and accuracy for one real and one fake batch."""
        as_score = tf.sigmoid if self.gan_loss.probabilities else tf.identity
        return {
            'd_loss': d_loss,
            'D_x': tf.reduce_mean(as_score(real_logits)),
            'D_G_z': tf.reduce_mean(as_score(fake_logits)),
            'acc_real': tf.reduce_mean(tf.cast(real_logits > 0, tf.float32)),
            'acc_fake': tf.reduce_mean(tf.cast(fake_logits < 0, tf.float32)),
        }

    def _train_generator(self, batch_size):
        # Watch G's weights only: the tape would otherwise also differentiate
        # with respect to D's weights, a wasted third of the backward pass.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([v.value for v in self.generator.trainable_variables])
            fake = self.generator(self.sample_noise(batch_size), training=True)
            g_loss = self.gan_loss.generator(
                self.discriminator(fake, training=True))
        self._descend(self.g_optimizer, tape, g_loss, self.generator)
        return g_loss

    @staticmethod
    def _descend(optimizer, tape, loss, player):
        """One optimizer step on `player`'s trainable weights only."""
        variables = player.trainable_variables
        # Optimizers sum gradients over replicas; each replica's loss is a mean
        # over its own share of the global batch, so divide to get the mean.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        gradients = [g / replicas for g in tape.gradient(loss, variables)]
        optimizer.apply_gradients(zip(gradients, variables))
