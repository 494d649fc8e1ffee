"""GAN losses: one pure function pair per loss, computed from discriminator logits,
and the penalties on the discriminator's input gradient.

Each loss is a pair `<name>_discriminator_loss`, `<name>_generator_loss`, named by
one entry of `gan_tf.registry.LOSSES`, which says what else each function takes.
Adding a loss means writing the two functions and adding that entry. Both return
a scalar: the mean over the batch. Logits are unbounded scores, higher meaning
"more real"; `tf.nn.softplus` keeps every log-sigmoid finite for any logit value.
No hidden globals, and nothing computed that the loss does not use.
"""
import tensorflow as tf

# Inside the square root of every gradient norm: d sqrt(s)/ds is infinite at s = 0,
# which turns a zero input gradient into NaN weights (Gulrajani et al.'s code
# and most ports hit this); 1e-12 changes no norm that matters.
NORM_EPSILON = 1e-12


def minimax_discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """-log D(x) - log(1 - D(G(z))): the discriminator's side of the game.

    Goodfellow et al. 2014, "Generative Adversarial Nets", eq. 1. With
    D = sigmoid(logits): -log sigmoid(l) = softplus(-l) and
    -log(1 - sigmoid(l)) = softplus(l). `label_smoothing` s makes the real target
    1 - s, fake targets stay 0: one-sided label smoothing, Salimans et al. 2016,
    "Improved Techniques for Training GANs", section 3.4.
    """
    real_loss = tf.nn.softplus(-real_logits)
    if label_smoothing:
        real_loss = ((1.0 - label_smoothing) * real_loss +
                     label_smoothing * tf.nn.softplus(real_logits))
    return tf.reduce_mean(real_loss) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def minimax_generator_loss(fake_logits):
    """log(1 - D(G(z))): the saturating generator loss of the original minimax game.

    Goodfellow et al. 2014, eq. 1. Its gradient vanishes when D confidently rejects
    the samples, which is why the paper recommends the non-saturating variant.
    """
    return -tf.reduce_mean(tf.nn.softplus(fake_logits))


def non_saturating_generator_loss(fake_logits):
    """-log D(G(z)): same fixed point as minimax, strong gradients early in training.

    Goodfellow et al. 2014, section 3 ("maximize log D(G(z))").
    """
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """E[C(G(z))] - E[C(x)]: the critic's estimate of minus the Wasserstein-1 distance.

    Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", eq. 3. The estimate
    only holds for a Lipschitz critic: weight clipping (`wasserstein`) or the
    gradient penalty (`wgan_gp`) provide it.
    """
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def wasserstein_generator_loss(fake_logits):
    """-E[C(G(z))]. Arjovsky et al. 2017, Algorithm 1."""
    return -tf.reduce_mean(fake_logits)


def hinge_discriminator_loss(real_logits, fake_logits):
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))].

    Lim & Ye 2017, "Geometric GAN"; the loss of Miyato et al. 2018, "Spectral
    Normalization for Generative Adversarial Networks", eq. 16.
    """
    return (tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) +
            tf.reduce_mean(tf.nn.relu(1.0 + fake_logits)))


def hinge_generator_loss(fake_logits):
    """-E[D(G(z))]. Miyato et al. 2018, eq. 17."""
    return -tf.reduce_mean(fake_logits)


def least_squares_discriminator_loss(real_logits, fake_logits):
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]: targets b = 1 (real), a = 0 (fake).

    Mao et al. 2017, "Least Squares Generative Adversarial Networks", eq. 2, with
    the 0-1 coding of section 3.2.
    """
    return 0.5 * (tf.reduce_mean(tf.square(real_logits - 1.0)) +
                  tf.reduce_mean(tf.square(fake_logits)))


def least_squares_generator_loss(fake_logits):
    """1/2 E[(D(G(z)) - 1)^2]: G wants its samples scored as real (c = 1).

    Mao et al. 2017, eq. 2.
    """
    return 0.5 * tf.reduce_mean(tf.square(fake_logits - 1.0))


def energy(logits):
    """The energy C of the energy-based GAN: softplus(-logit) = -log sigmoid(logit).

    EBGAN's energy is a reconstruction error, never negative. A discriminator's
    logit is unbounded, and with C = -logit D would drive C(x) to minus infinity;
    -log D(x) is non-negative and low for images D finds real.
    """
    return tf.nn.softplus(-logits)


def energy_discriminator_loss(real_logits, fake_logits, margin=1.0):
    """C(x) + max(0, m - C(G(z))): low energy on data, at least m on samples.

    Zhao, Mathieu & LeCun 2017, "Energy-based Generative Adversarial Network",
    eq. 1, with `margin` m and C = `energy(logits)`.
    """
    return (tf.reduce_mean(energy(real_logits)) +
            tf.reduce_mean(tf.nn.relu(margin - energy(fake_logits))))


def energy_generator_loss(fake_logits, fake_images=None, pt_weight=0.0):
    """C(G(z)), plus `pt_weight` times the pulling-away term of `fake_images`.

    Zhao et al. 2017, eq. 2 and eq. 7. The paper computes the pulling-away term
    on the discriminator's encoder features; here D has no encoder, so it is
    computed on the generated images themselves: it still penalises a generator
    for mapping different z to the same output.
    """
    loss = tf.reduce_mean(energy(fake_logits))
    if pt_weight:
        loss += pt_weight * pulling_away_term(fake_images)
    return loss


def pulling_away_term(samples):
    """Mean squared cosine similarity over all pairs i != j of the batch.

    Zhao et al. 2017, eq. 7: 1 / (N (N - 1)) sum_{i != j} cos(S_i, S_j)^2.
    1 when all samples point the same way, 0 when they are orthogonal.
    """
    flat = tf.reshape(samples, [tf.shape(samples)[0], -1])
    unit = flat * tf.math.rsqrt(
        tf.reduce_sum(tf.square(flat), axis=1, keepdims=True) + NORM_EPSILON)
    cosines = tf.matmul(unit, unit, transpose_b=True)
    n = tf.cast(tf.shape(flat)[0], flat.dtype)
    # The diagonal holds each sample's |cos(S_i, S_i)|^2 = 1 (or 0 for a zero image).
    off_diagonal = tf.reduce_sum(tf.square(cosines)) - tf.reduce_sum(
        tf.square(tf.linalg.diag_part(cosines)))
    return off_diagonal / (n * (n - 1.0))


def relativistic_discriminator_loss(real_logits, fake_logits):
    """-log sigmoid(C(x) - E C(G(z))) - log(1 - sigmoid(C(G(z)) - E C(x))).

    Relativistic average standard GAN (RaSGAN), Jolicoeur-Martineau 2019, "The
    relativistic discriminator: a key element missing from standard GAN", eq. 8:
    D estimates how much more real a real image is than the average fake.
    """
    return (tf.reduce_mean(tf.nn.softplus(-(real_logits - tf.reduce_mean(fake_logits)))) +
            tf.reduce_mean(tf.nn.softplus(fake_logits - tf.reduce_mean(real_logits))))


def relativistic_generator_loss(fake_logits, real_logits):
    """The discriminator loss with real and fake swapped: G also lowers how real
    the real images look relative to its samples. Jolicoeur-Martineau 2019, eq. 9."""
    return relativistic_discriminator_loss(fake_logits, real_logits)


def class_cross_entropy(class_logits, labels):
    """-E[log P(C = label | x)], P the softmax of `class_logits` [batch, classes]."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=class_logits))


def acgan_discriminator_loss(real_logits, fake_logits, real_class_logits,
                             fake_class_logits, labels, label_smoothing=0.0,
                             aux_weight=1.0):
    """-L_S - aux_weight * L_C: the minimax loss on real/fake, plus the class
    cross-entropy on the real images and on the fakes, all of class `labels`.

    Odena, Olah & Shlens 2017, "Conditional Image Synthesis with Auxiliary
    Classifier GANs", section 3: D maximises L_S + L_C, where L_S is the log
    likelihood of the right source (real or fake) and L_C of the right class,
    on real and generated images alike. `aux_weight` 1 is the paper's.
    """
    return (minimax_discriminator_loss(real_logits, fake_logits, label_smoothing) +
            aux_weight * (class_cross_entropy(real_class_logits, labels) +
                          class_cross_entropy(fake_class_logits, labels)))


def acgan_generator_loss(fake_logits, fake_class_logits, labels, aux_weight=1.0):
    """-log D(G(z)) + aux_weight * the class cross-entropy of the fakes.

    Odena et al. 2017: G maximises L_C - L_S; here -L_S is the non-saturating
    -log D(G(z)) (Goodfellow et al. 2014, section 3), as in the paper's code.
    """
    return (non_saturating_generator_loss(fake_logits) +
            aux_weight * class_cross_entropy(fake_class_logits, labels))


def input_gradient_norms(gradients):
    """|grad_x D(x)|_2 per image, with the epsilon inside the square root."""
    axes = list(range(1, gradients.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + NORM_EPSILON)


def gradient_penalty(gradients):
    """E[(|grad D(x_hat)|_2 - 1)^2] from D's input gradients at the points x_hat.

    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", eq. 3, where
    x_hat lies between a real and a fake image; DRAGAN (Kodali et al. 2017, "On
    Convergence and Stability of GANs", eq. 2) takes x_hat near the real data.
    """
    return tf.reduce_mean(tf.square(input_gradient_norms(gradients) - 1.0))


def r1_penalty(gradients):
    """E[|grad D(x)|_2^2] on real images x: no square root, no epsilon needed.

    Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually
    Converge?", eq. 9; D's loss adds gamma / 2 times it.
    """
    axes = list(range(1, gradients.shape.rank))
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=axes))
