"""`GAN`: a generator and a discriminator trained by alternating gradient steps."""
import functools

import keras
import tensorflow as tf

from gan_tf import augment, config, distribute, latent, losses, registry
# What every step reports: the players' losses, D's mean score on real (D(x)) and
# fake (D(G(z))) images, D's accuracy on each, and the global norm of each
# player's gradient (a vanishing generator gradient is a failure to watch for).
# d_loss is the loss alone, without penalties (so -d_loss of a Wasserstein critic
# stays its distance estimate); d_grad_norm is of everything D descends. Under a
# tf.distribute strategy each is the mean over replicas, and a gradient norm is
# then the mean of each replica's norm for its share of the batch (a smaller
# batch's gradient is noisier: it reads somewhat higher than one device's).
METRICS = ('d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake',
           'd_grad_norm', 'g_grad_norm')
# The extra tensors a loss's functions may ask for (`Loss.discriminator_inputs`,
# `Loss.generator_inputs`).
DISCRIMINATOR_INPUTS = ('real_class_logits', 'fake_class_logits', 'labels')
GENERATOR_INPUTS = ('fake_images', 'real_logits', 'fake_class_logits', 'labels')


def ema_decay_at(decay, step):
    """The moving average's decay after generator update `step` (1, 2, ...):
    `decay`, or less early on, min(decay, (1 + step) / (10 + step)), as
    tf.train.ExponentialMovingAverage with num_updates. A constant 0.999 would
    still give the random initial weights a weight of 0.999^2000 = 14% after
    2,000 steps; the ramp averages over about the last tenth of training until
    the constant takes over (step 8,991 for 0.999)."""
    return tf.minimum(decay, (1.0 + step) / (10.0 + step))


@keras.saving.register_keras_serializable(package='gan_tf')
class GAN(keras.Model):
    """Trains `generator` and `discriminator` against each other with `fit`.

    Each `train_step` updates the discriminator `d_steps` times, then the generator
    once, each under its own `tf.GradientTape` and touching only its own trainable
    weights. A batch from the dataset holds the real images for all `d_steps`
    discriminator updates: it is split into `d_steps` equal parts, so feed batches
    of `d_steps * batch_size` images (or `(images, labels)` pairs).

    Class-conditional players (`gan_tf.models.conditional`, which both have
    `num_classes`) make a conditional GAN: batches must then be `(images,
    labels)`, and the fakes each discriminator update compares with a real
    batch are generated for that batch's labels.

    Calling the model, `gan(z)` (conditional: `gan(z, labels)`), generates
    images from noise `z` with `sampling_generator`. Each training step's logs
    hold that step's METRICS; epoch logs (History, EarlyStopping) and `evaluate`
    hold their means.
    """

    def __init__(self, generator, discriminator, latent_dim=100, noise='normal',
                 d_steps=None, seed=None, *, clip=None, gp_weight=10.0, r1_weight=0.0,
                 dragan_weight=0.0, margin=1.0, pt_weight=0.0, label_smoothing=0.0,
                 instance_noise=0.0, instance_noise_steps=10000, diffaugment='',
                 ema_decay=None, aux_weight=1.0, **kwargs):
        """`d_steps`: D updates per G update; None: the loss's (5 for Wasserstein).

        Options of the loss chosen in `compile`, see `gan_tf.losses`:
          clip: bound on |D's weights| after each D update (Arjovsky et al. 2017);
            None: the loss's (0.01 for wasserstein), 0: none.
          gp_weight: lambda of wgan_gp's gradient penalty (Gulrajani et al. 2017).
          margin, pt_weight: the energy loss's margin m and pulling-away weight.
          label_smoothing: real targets become 1 - label_smoothing (cross-entropy
            losses; Salimans et al. 2016).
          aux_weight: weight of acgan's class cross-entropy (Odena et al. 2017).
        Stabilisers, for any loss:
          r1_weight: gamma of the R1 penalty (Mescheder et al. 2018).
          dragan_weight: lambda of the DRAGAN penalty (Kodali et al. 2017).
          instance_noise: std of Gaussian noise added to every image D sees,
            annealed linearly to 0 over `instance_noise_steps` steps (Sonderby et
            al. 2016).
          diffaugment: DiffAugment transformations, e.g. 'translation,cutout'
            (`gan_tf.augment`).
          ema_decay: keep `ema_generator`, an exponential moving average of the
            generator's weights, and generate with it (Yazici et al. 2019, "The
            Unusual Effectiveness of Averaging in GAN Training").
        """
        super().__init__(**kwargs)
        if noise not in registry.NOISE_KINDS:
            raise ValueError(f'unknown noise {noise!r}; choose one of: '
                             f'{", ".join(registry.NOISE_KINDS)}')
        options = config.check_gan_options(
            d_steps=d_steps, clip=clip, gp_weight=gp_weight, r1_weight=r1_weight,
            dragan_weight=dragan_weight, margin=margin, pt_weight=pt_weight,
            label_smoothing=label_smoothing, instance_noise=instance_noise,
            instance_noise_steps=instance_noise_steps, diffaugment=diffaugment,
            ema_decay=ema_decay, aux_weight=aux_weight)
        for name, value in options.items():  # the loss's own: checked in `compile`
            setattr(self, name, value)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.noise = noise
        self.requested_d_steps = d_steps
        self.seed = seed
        self.num_classes = getattr(generator, 'num_classes', 0)  # 0: unconditional
        if getattr(discriminator, 'num_classes', 0) != self.num_classes:
            raise ValueError('the generator and the discriminator must be conditional '
                             'on the same number of classes, or both unconditional')
        self.auxiliary_classifier = getattr(discriminator, 'auxiliary_classifier', False)
        self.augmentations = registry.augmentations(diffaugment)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in METRICS}
        # Owned by the model so its state is checkpointed: runs are reproducible.
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Create every weight now, so optimizers and checkpoints can see them
        # before the first step.
        labels = tf.zeros([1], tf.int32) if self.num_classes else None
        images = self._call_player(self.generator, self.sample_noise(1), labels)
        logits, _ = self._discriminate(images, labels, training=False)
        for player, output in (('generator', images), ('discriminator', logits)):
            if output.dtype != 'float32':  # mixed precision: 16-bit losses, exports
                raise ValueError(f'the {player} returns {output.dtype}; make it return '
                                 'float32 (gan_tf.models.layers.float32)')
        self.ema_generator = None if ema_decay is None else self._copy(generator)
        self.built = True

    def _copy(self, generator):
        """A non-trainable copy of `generator`: same architecture, same weights."""
        try:
            copy = keras.models.clone_model(generator)
        except NotImplementedError:  # a subclassed model without get_config
            raise ValueError(
                f'{type(generator).__name__} cannot be copied for the moving average '
                '(--ema_decay): give it a get_config() returning its constructor '
                'arguments, or train with --ema_decay=none') from None
        copy(tf.zeros([1, self.latent_dim]))
        copy.set_weights(generator.get_weights())
        copy.trainable = False
        return copy

    def compile(self, d_optimizer, g_optimizer, loss='non_saturating', **kwargs):
        """`loss`: a name registered in `gan_tf.registry.LOSSES`, or a
        `registry.Loss`."""
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.gan_loss = registry.loss(loss) if isinstance(loss, str) else loss
        if isinstance(loss, str):
            config.check_gan_options(loss, **self.options)
        missing = set(self.gan_loss.generator_inputs) - set(GENERATOR_INPUTS)
        missing |= set(self.gan_loss.discriminator_inputs) - set(DISCRIMINATOR_INPUTS)
        if missing:
            raise ValueError(f'GAN cannot give a loss {", ".join(missing)}')
        if self.gan_loss.conditional != self.auxiliary_classifier:
            # ACGAN's class logits come from the discriminator's auxiliary classifier.
            raise ValueError(
                'the acgan loss needs a conditional discriminator with an auxiliary '
                'classifier: models.build(..., num_classes=N, auxiliary_classifier=True)'
                if self.gan_loss.conditional else
                'a discriminator with an auxiliary classifier needs the acgan loss')
        penalised = ((self.gan_loss.gradient_penalty and self.gp_weight) or
                     self.r1_weight or self.dragan_weight)
        if penalised and any(isinstance(layer, keras.layers.BatchNormalization)
                             for layer in self.discriminator._flatten_layers()):
            # Each image's input gradient would depend on the rest of its batch.
            raise ValueError(
                "penalties on D's input gradient (wgan_gp, --r1_weight, "
                f'--dragan_weight) need a discriminator without batch '
                f'normalisation, and {type(self.discriminator).__name__} has it: '
                'add --spectral_norm (which replaces it), or choose another --arch')
        # The loss's hyperparameters, bound once: the step calls plain functions.
        discriminator_loss, generator_loss = self.gan_loss.functions()
        self._d_loss = functools.partial(discriminator_loss, **{
            name: getattr(self, name) for name in self.gan_loss.discriminator_options})
        self._g_loss = functools.partial(generator_loss, **{
            name: getattr(self, name) for name in self.gan_loss.generator_options})
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def options(self):
        """{name: value} of every training option (`config.GAN_OPTIONS`)."""
        return {name: getattr(self, name) for name in config.GAN_OPTIONS}

    @property
    def d_steps(self):
        """D updates per G update: as asked, else the loss's (1 before `compile`)."""
        loss = getattr(self, 'gan_loss', None)
        return loss.d_steps(self.requested_d_steps) if loss else self.requested_d_steps or 1

    @property
    def clip_value(self):
        """The bound weight clipping applies to D's weights; 0: no clipping."""
        loss = getattr(self, 'gan_loss', None)
        return self.clip if self.clip is not None else (loss.default_clip if loss else 0.0)

    @property
    def sampling_generator(self):
        """The generator to sample and export: the weight average when kept."""
        return self.generator if self.ema_generator is None else self.ema_generator

    @property
    def metrics(self):
        return list(self.trackers.values())  # Keras resets them every epoch

    def get_config(self):
        return {'name': self.name, 'latent_dim': self.latent_dim, 'noise': self.noise,
                'd_steps': self.requested_d_steps, 'seed': self.seed,
                **self.options,
                'generator': keras.saving.serialize_keras_object(self.generator),
                'discriminator': keras.saving.serialize_keras_object(self.discriminator)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        players = [keras.saving.deserialize_keras_object(config.pop(name))
                   for name in ('generator', 'discriminator')]
        return cls(*players, **config)

    def get_compile_config(self):
        if registry.LOSSES.get(self.gan_loss.name) != self.gan_loss:
            raise ValueError('only a GAN compiled with a registered loss can be saved; '
                             'add yours to gan_tf.registry.LOSSES')
        return {'d_optimizer': keras.saving.serialize_keras_object(self.d_optimizer),
                'g_optimizer': keras.saving.serialize_keras_object(self.g_optimizer),
                'loss': self.gan_loss.name}

    def compile_from_config(self, config):
        self.compile(
            d_optimizer=keras.saving.deserialize_keras_object(config['d_optimizer']),
            g_optimizer=keras.saving.deserialize_keras_object(config['g_optimizer']),
            loss=config['loss'])

    @property
    def step(self):
        """Training steps taken so far (one generator update each), as a tensor:
        `int(gan.step)` works under a tf.distribute strategy too."""
        return tf.convert_to_tensor(self.g_optimizer.iterations)

    def call(self, z, labels=None, training=False):
        """Images from noise `z`; conditional: of classes `labels`, by default
        image i of class i % num_classes."""
        return self._call_player(self.sampling_generator, z, labels, training)

    @staticmethod
    def _call_player(player, inputs, labels, training=True):
        """`player` on `inputs`, and on `labels` when the GAN is conditional."""
        if labels is None:
            return player(inputs, training=training)
        return player(inputs, labels, training=training)

    def _discriminate(self, images, labels, training=True):
        """D's logits for `images`, and its class logits where it has an auxiliary
        classifier (ACGAN; None otherwise)."""
        output = self._call_player(self.discriminator, images, labels, training)
        return output if self.auxiliary_classifier else (output, None)

    def _real_batch(self, data):
        """(images, labels) of a dataset batch; labels None unless conditional."""
        images = data[0] if isinstance(data, (tuple, list)) else data
        if not self.num_classes:
            return images, None
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError('a conditional GAN trains on (images, labels) batches')
        return images, tf.cast(data[1], tf.int32)

    @staticmethod
    def _loss_inputs(names, **available):
        """The extra tensors a loss function names, by name."""
        return {name: available[name] for name in names}

    def sample_noise(self, batch_size):
        """`batch_size` latent vectors, standard normal or uniform in [-1, 1]."""
        return latent.sample_noise(self.noise, batch_size, self.latent_dim,
                                   self.seed_generator)

    def train_step(self, data):
        real, labels = self._real_batch(data)
        # Fakes are generated for the labels of the real images they meet, not
        # drawn uniformly: real and fake batches then share one class mix, whatever
        # the dataset's class frequencies; penalties interpolate between images of
        # one class; and no random number is drawn beyond an unconditional step's.
        label_parts = (tf.split(labels, self.d_steps) if labels is not None
                       else [None] * self.d_steps)
        for real_part, label_part in zip(tf.split(real, self.d_steps), label_parts):
            metrics = self._train_discriminator(real_part, label_part)
        metrics['g_loss'], metrics['g_grad_norm'] = self._train_generator(real_part,
                                                                          label_part)
        if self.ema_generator is not None:
            self._update_ema()
        self._track(metrics)
        return distribute.reducible(metrics)

    def test_step(self, data):
        """The step's metrics on a batch of real images, without any update,
        augmentation, noise or penalty."""
        real, labels = self._real_batch(data)
        fake = self._call_player(self.generator, self.sample_noise(tf.shape(real)[0]), labels,
                          training=False)
        real_logits, real_classes = self._discriminate(real, labels, training=False)
        fake_logits, fake_classes = self._discriminate(fake, labels, training=False)
        metrics = self._statistics(real_logits, fake_logits, self._d_loss(
            real_logits, fake_logits, **self._loss_inputs(
                self.gan_loss.discriminator_inputs, real_class_logits=real_classes,
                fake_class_logits=fake_classes, labels=labels)))
        metrics['g_loss'] = self._g_loss(fake_logits, **self._loss_inputs(
            self.gan_loss.generator_inputs, fake_images=fake, real_logits=real_logits,
            fake_class_logits=fake_classes, labels=labels))
        self._track(metrics)
        return distribute.reducible(  # no gradients
            {name: self.trackers[name].result() for name in metrics})

    def _track(self, metrics):
        for name, value in metrics.items():
            self.trackers[name].update_state(value)

    def _train_discriminator(self, real, labels=None):
        fake = self._call_player(self.generator, self.sample_noise(tf.shape(real)[0]), labels)
        real, fake = self._discriminator_input(real), self._discriminator_input(fake)
        with tf.GradientTape() as tape:
            # Separate calls: a batch-normalised D must not mix real and fake
            # statistics.
            real_logits, real_classes = self._discriminate(real, labels)
            fake_logits, fake_classes = self._discriminate(fake, labels)
            d_loss = self._d_loss(real_logits, fake_logits, **self._loss_inputs(
                self.gan_loss.discriminator_inputs, real_class_logits=real_classes,
                fake_class_logits=fake_classes, labels=labels))
            total = d_loss + self._penalties(real, fake, labels)
        metrics = self._statistics(real_logits, fake_logits, d_loss)
        metrics['d_grad_norm'] = self._apply_gradients(
            self.d_optimizer, tape, total, self.discriminator)
        if self.clip_value:
            for weight in self.discriminator.trainable_variables:
                weight.assign(tf.clip_by_value(weight, -self.clip_value, self.clip_value))
        return metrics

    def _penalties(self, real, fake, labels=None):
        """The weighted penalties on D's input gradient that are switched on (0.0
        if none), computed under D's tape: their gradient reaches D's weights.
        `labels`: of the real images and their fakes alike (conditional only)."""
        penalty = 0.0
        if self.gan_loss.gradient_penalty and self.gp_weight:
            penalty += self.gp_weight * losses.gradient_penalty(
                self._input_gradients(self._interpolate(real, fake), labels))
        if self.r1_weight:
            penalty += self.r1_weight / 2 * losses.r1_penalty(
                self._input_gradients(real, labels))
        if self.dragan_weight:
            # Kodali et al. 2017: near the data, x + delta with Gaussian delta; the
            # paper leaves its scale to tune, here half the batch's pixel std.
            delta = 0.5 * tf.math.reduce_std(real) * distribute.draw(
                keras.random.normal, tf.shape(real), seed=self.seed_generator)
            penalty += self.dragan_weight * losses.gradient_penalty(
                self._input_gradients(real + delta, labels))
        return penalty

    def _interpolate(self, real, fake):
        """A random point on the segment from each real image to its fake, its
        position uniform in [0, 1] per image (Gulrajani et al. 2017, Algorithm 1)."""
        shape = [tf.shape(real)[0]] + [1] * (real.shape.rank - 1)
        alpha = distribute.draw(keras.random.uniform, shape, seed=self.seed_generator)
        return real + alpha * (fake - real)

    def _input_gradients(self, images, labels=None):
        """grad_x D(x) at each image; recorded by any enclosing tape, so a penalty
        on it can be differentiated with respect to D's weights."""
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits, _ = self._discriminate(images, labels)
        # Sum over the batch: each logit depends on its own image only (as long as
        # D has no batch normalisation, which these penalties' papers also avoid).
        return tape.gradient(logits, images)

    def _discriminator_input(self, images):
        """What D sees of `images`, real or fake: DiffAugment's transformations,
        then instance noise, where switched on. Differentiable."""
        if self.augmentations:
            images = augment.diff_augment(images, self.augmentations, self.seed_generator)
        if self.instance_noise:
            # Sonderby et al. 2016, appendix C: std annealed linearly to 0.
            progress = tf.cast(self.step, images.dtype) / self.instance_noise_steps
            std = self.instance_noise * tf.nn.relu(1.0 - progress)
            images = images + std * distribute.draw(
                keras.random.normal, tf.shape(images), seed=self.seed_generator)
        return images

    def _statistics(self, real_logits, fake_logits, d_loss):
        """D's loss, mean scores and accuracy for one real and one fake batch."""
        as_score = tf.sigmoid if self.gan_loss.probabilities else tf.identity
        real_bound = fake_bound = self.gan_loss.boundary
        if real_bound is None:  # no absolute scale: beat the other batch's mean
            real_bound = tf.reduce_mean(fake_logits)
            fake_bound = tf.reduce_mean(real_logits)
        return {
            'd_loss': d_loss,
            'D_x': tf.reduce_mean(as_score(real_logits)),
            'D_G_z': tf.reduce_mean(as_score(fake_logits)),
            'acc_real': tf.reduce_mean(tf.cast(real_logits > real_bound, tf.float32)),
            'acc_fake': tf.reduce_mean(tf.cast(fake_logits < fake_bound, tf.float32)),
        }

    def _train_generator(self, real, labels=None):
        """One G update on a fresh noise batch the size of `real`, the real images
        of the last D update (used only by losses that compare with them), for
        their `labels` (conditional only)."""
        # Watch G's weights only: the tape would otherwise also differentiate
        # with respect to D's weights, a wasted third of the backward pass.
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([v.value for v in self.generator.trainable_variables])
            fake = self._call_player(self.generator, self.sample_noise(tf.shape(real)[0]), labels)
            fake_logits, fake_classes = self._discriminate(
                self._discriminator_input(fake), labels)
            real_logits = None
            if 'real_logits' in self.gan_loss.generator_inputs:  # relativistic only
                real_logits, _ = self._discriminate(self._discriminator_input(real),
                                                    labels)
            g_loss = self._g_loss(fake_logits, **self._loss_inputs(
                self.gan_loss.generator_inputs, fake_images=fake, real_logits=real_logits,
                fake_class_logits=fake_classes, labels=labels))
        return g_loss, self._apply_gradients(self.g_optimizer, tape, g_loss, self.generator)

    def _update_ema(self):
        """ema <- decay * ema + (1 - decay) * weights, for every weight, with the
        decay of `ema_decay_at` this step.

        Batch-norm moving statistics are averaged too, not copied: they track the
        live generator's activations, and over the averaging window their average
        approximates, to first order, the statistics of the averaged weights.
        """
        decay = ema_decay_at(self.ema_decay, tf.cast(self.step, tf.float32))
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * weight)

    @staticmethod
    def _apply_gradients(optimizer, tape, loss, player):
        """One optimizer step on `player`'s trainable weights only; returns the
        global norm of the gradient of `loss` (this replica's, under a strategy;
        0 for a step that loss scaling skips because the float16 gradient
        overflowed)."""
        variables = player.trainable_variables
        # Mixed float16's loss scaling: the backward pass starts from the scale
        # instead of 1, as if differentiating loss * scale; the optimizer's
        # apply_gradients unscales, and skips steps whose gradient overflowed.
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        start = optimizer.scale_loss(tf.ones_like(loss)) if scaled else None
        gradients = tape.gradient(loss, variables, output_gradients=start)
        norm = tf.linalg.global_norm(gradients)
        if scaled:
            norm = norm / optimizer.dynamic_scale  # the scale this step used
            norm = tf.where(tf.math.is_finite(norm), norm, 0.0)
        # Keras' optimizers sum gradients over replicas (an all-reduce); each
        # replica's loss is a mean over its own equal share of the global batch,
        # so dividing by the replicas makes the sum the global batch's mean.
        replicas = distribute.num_replicas()
        if replicas > 1:
            gradients = [g / replicas for g in gradients]
        optimizer.apply_gradients(zip(gradients, variables))
        return norm
