"""The training health monitor's judgement: what goes wrong in a GAN, and what to try.

A GAN's losses do not say whether it is learning; the usual failures are a
discriminator that overpowers the generator, a generator gradient that vanishes,
mode collapse and oscillation (Goodfellow 2016, "NIPS 2016 Tutorial: Generative
Adversarial Networks", section 5; Salimans et al. 2016, "Improved Techniques for
Training GANs"). Here are the detectors, pure functions of the step metrics' recent
history or of a probe of generated samples, the `Finding` each reports, and the
remedies `suggest` names. `gan_tf.callbacks.HealthMonitor` runs them during `fit`
and reports a finding once when a condition starts and once when it clears: one
warning line on stderr, one line of `<run>/health.jsonl`, a TensorBoard marker.

Step detectors judge means over a window of recent steps, so one noisy batch never
fires; probe detectors look at generated samples every few hundred steps. Each
threshold's reason is below; the runs that measured them are in BUILD.md
("Health monitor thresholds").
"""
import dataclasses
import json
import os
import re

import numpy as np

from gan_tf import config, registry

# --- thresholds -------------------------------------------------------------------
# Steps averaged before a step detector judges: the mean of 50 batches of 64 has a
# binomial noise of about +-0.01 in D's accuracy (one batch: up to +-0.06).
WINDOW = 50
# D's mean accuracy on real AND on fake over the window at or above this: D tells
# every image apart, and G learns from saturated scores.
OVERPOWERING_ACCURACY = 0.95
# G's gradient norm (window median) below this fraction of its peak: the highest
# median of GRADIENT_PEAK_STEPS steps so far (short: G's gradient is largest at the
# start; a median, so that one spike is no peak). 0.005, not 0.01: a chaotic D can
# leave G's norm near 0.01 of a wild early peak while it is still a strong gradient.
VANISHING_GRADIENT_RATIO = 0.005
GRADIENT_PEAK_STEPS = 10
# Oscillation: D's accuracy on fake, averaged over blocks of OSCILLATION_BLOCK
# steps, swinging by at least OSCILLATION_SWING, OSCILLATION_LEGS times (up, down,
# up, down) within the last OSCILLATION_BLOCKS blocks: G and D take turns winning
# instead of settling. Batch noise moves 25-step means by about 0.02 and a healthy
# drift by at most about 0.1 a block; 0.3 is a change of side.
OSCILLATION_BLOCK = 25
OSCILLATION_BLOCKS = 8
OSCILLATION_SWING = 0.3
OSCILLATION_LEGS = 4
# Samples generated (from fixed noise) for each probe of modes and diversity.
PROBE_SAMPLES = 500
# The class histogram is judged only once at least this share of the samples lies
# among real images (inside the judge's k=3 nearest-neighbour balls of real test
# images): before that they are blobs, which the classifier still puts in one or
# two classes, and confidently so.
RECOGNISABLE_SHARE = 0.2
# Mode collapse: at most this fraction of the classes covered (5 of 10); once
# samples are recognisable, healthy runs cover 7 to 10 of 10.
COLLAPSED_CLASSES = 0.5
# Sample diversity: mean pairwise L2 distance between samples over the same between
# real images; 0 when every sample is one image. An untrained generator's blobs
# already give about 0.25; below 0.1 the samples are near copies of each other
# (the closeness minibatch discrimination watches, Salimans et al. 2016).
LOW_DIVERSITY = 0.1
DIVERSITY_SAMPLES = 200  # pairwise distances: 200 samples give 19,900 pairs
# Memorisation: at least this share of the samples copies a training image
# (`quality.memorised_share`); new images, real test images included, give about 0.
MEMORISED_SHARE = 0.1
# Probe detectors must agree on this many consecutive probes (one bad probe may be
# a generator passing through a bad spot).
COLLAPSE_PROBES = 2

# Losses a remedy may suggest instead of the current one, best first: a critic
# with a gradient penalty keeps giving G a gradient when it wins (Gulrajani et al.
# 2017), hinge and least squares saturate less than cross-entropy. Only those
# registered at run time are named.
OTHER_LOSSES = ('wgan_gp', 'hinge', 'least_squares')
# Gradient penalties on D a remedy may switch on: (flag, value, what it is), named
# only when the flag is a Config field and the model has it off.
PENALTIES = (('r1_weight', 10, 'an R1 gradient penalty on D, Mescheder et al. 2018'),
             ('dragan_weight', 10, 'a DRAGAN gradient penalty on D'))


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing the monitor saw. `event`: 'fired' when the condition started,
    'cleared' when it ended, 'stopped' when it stopped training."""
    step: int
    kind: str
    message: str
    suggestion: str = ''
    event: str = 'fired'

    def line(self):
        """The one-line warning printed on stderr."""
        if self.event == 'cleared':
            return f'health: step {self.step}: cleared: {self.message}'
        if self.event == 'stopped':
            return f'health: step {self.step}: stopped training: {self.message}'
        tail = f' Try: {self.suggestion}' if self.suggestion else ''
        return f'health: step {self.step}: {self.message}.{tail}'


# --- step detectors: (history, state) -> message or None ------------------------

def _mean(history, key, n=WINDOW):
    values = history.get(key)
    if values is None or len(values) < n:
        return None
    return float(np.mean(list(values)[-n:]))


def discriminator_overpowering(history, state):
    """D's accuracy on both real and fake at OVERPOWERING_ACCURACY over WINDOW."""
    real, fake = _mean(history, 'acc_real'), _mean(history, 'acc_fake')
    if real is None or fake is None or min(real, fake) < OVERPOWERING_ACCURACY:
        return None
    g_loss = list(history['g_loss'])[-WINDOW:]
    trend = (f'; G loss {np.mean(g_loss[:10]):.2f} -> {np.mean(g_loss[-10:]):.2f}'
             if len(g_loss) >= 20 else '')
    return (f"discriminator overpowering: D's accuracy {real:.2f} on real and "
            f'{fake:.2f} on fake over the last {WINDOW} steps{trend}')


def vanishing_generator_gradient(history, state):
    """G's gradient norm (window median) under VANISHING_GRADIENT_RATIO of its peak."""
    norms = list(history.get('g_grad_norm', ()))
    if len(norms) >= GRADIENT_PEAK_STEPS:
        state['peak'] = max(state.get('peak', 0.0),
                            float(np.median(norms[-GRADIENT_PEAK_STEPS:])))
    if len(norms) < WINDOW:
        return None
    median, peak = float(np.median(norms[-WINDOW:])), state['peak']
    if not median < VANISHING_GRADIENT_RATIO * peak:
        return None
    return (f"vanishing generator gradient: G's gradient norm {median:.2g} (median "
            f'of the last {WINDOW} steps), {peak / max(median, 1e-30):.0f} times '
            f'below its peak {peak:.2g}')


def swings(values, swing):
    """How many times `values` moves by at least `swing` away from its last
    turning point, alternating in direction (a zigzag filter)."""
    count, direction, high, low = 0, 0, values[0], values[0]
    for v in values[1:]:
        high, low = max(high, v), min(low, v)
        if direction <= 0 and v - low >= swing:  # a rise from the last low
            count, direction, high = count + 1, 1, v
        elif direction >= 0 and high - v >= swing:  # a fall from the last high
            count, direction, low = count + 1, -1, v
    return count


def oscillation(history, state):
    """D's accuracy on fake (block means) swinging back and forth."""
    n = OSCILLATION_BLOCK * OSCILLATION_BLOCKS
    values = history.get('acc_fake')
    if values is None or len(values) < n:
        return None
    blocks = np.reshape(list(values)[-n:], (OSCILLATION_BLOCKS, OSCILLATION_BLOCK))
    means = blocks.mean(1)
    count = swings(means, OSCILLATION_SWING)
    if count < OSCILLATION_LEGS:
        return None
    return (f"oscillation: D's accuracy on fake swung {count} times by "
            f'{OSCILLATION_SWING} or more in the last {n} steps (between '
            f'{means.min():.2f} and {means.max():.2f})')


STEP_DETECTORS = {
    'discriminator_overpowering': discriminator_overpowering,
    'vanishing_generator_gradient': vanishing_generator_gradient,
    'oscillation': oscillation,
}


# --- probe measurements and detectors ----------------------------------------------

def diversity(samples, reference_distance):
    """Mean pairwise L2 distance of `samples` over `reference_distance`."""
    return mean_pairwise_distance(samples) / reference_distance


def mean_pairwise_distance(images):
    """Mean L2 distance over all pairs of `images` (first DIVERSITY_SAMPLES)."""
    x = np.asarray(images, np.float64)[:DIVERSITY_SAMPLES].reshape(
        min(len(images), DIVERSITY_SAMPLES), -1)
    squared = (x ** 2).sum(1)
    d2 = squared[:, None] + squared[None, :] - 2 * x @ x.T
    upper = np.triu_indices(len(x), 1)
    return float(np.sqrt(np.maximum(d2[upper], 0)).mean())


def mode_collapse(probe):
    """Few classes covered among samples that are recognisable at all."""
    if 'classes_covered' not in probe or probe['realistic'] < RECOGNISABLE_SHARE:
        return None
    covered, classes = probe['classes_covered'], probe['classes']
    if covered > COLLAPSED_CLASSES * classes:
        return None
    top = np.argsort(probe['class_shares'])[::-1][:covered]
    return (f'mode collapse: {covered} of {classes} classes (samples classified as '
            f'{", ".join(str(c) for c in sorted(top))}; '
            f'{probe["realistic"]:.0%} among real images)')


def memorisation(probe):
    """Samples that copy training images."""
    share = probe.get('memorised')
    if share is None or share < MEMORISED_SHARE:
        return None
    return (f'memorisation: {share:.0%} of samples copy a training image (nearer to '
            'it than half its distance to the next training image)')


def low_diversity(probe):
    """Samples (nearly) copies of each other."""
    value = probe.get('diversity')
    if value is None or value >= LOW_DIVERSITY:
        return None
    return (f'mode collapse: samples nearly identical (their mean pairwise distance '
            f"is {value:.2f} of real images')")


PROBE_DETECTORS = {'mode_collapse': mode_collapse, 'low_diversity': low_diversity,
                   'memorisation': memorisation}
NAMES = {'non_finite': 'non-finite metrics',
         'discriminator_overpowering': 'discriminator overpowering',
         'vanishing_generator_gradient': 'vanishing generator gradient',
         'oscillation': 'oscillation', 'mode_collapse': 'mode collapse',
         'low_diversity': 'nearly identical samples', 'memorisation': 'memorisation'}


# --- suggestions ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Settings:
    """What a remedy may change, as the run has it now: the loss's name (None
    for an unregistered one), both learning rates, D's updates per G update, and
    the values of the GAN options (`config.GAN_OPTIONS`)."""
    loss: str
    lr_d: float
    lr_g: float
    d_steps: int = 1
    options: dict = dataclasses.field(default_factory=dict)


def suggest(kind, settings):
    """One line of at most three remedies for `kind`, naming only flags and losses
    that exist now (Config fields, registered losses) with values for `settings`."""
    flags, loss_names = set(config.FIELDS), set(registry.LOSSES)
    current, lr_d, lr_g = settings.loss, settings.lr_d, settings.lr_g
    d_steps = settings.d_steps
    other_loss = next((f'--loss={n} (now {current or "a custom loss"})'
                       for n in OTHER_LOSSES if n in loss_names and n != current), None)
    penalty = next((f'--{flag}={value} ({what})' for flag, value, what in PENALTIES
                    if flag in flags and not settings.options.get(flag)), None)
    slower_d = f'--lr_d={lr_d / 4:.2g} (a slower discriminator; now {lr_d:.2g})'
    options = {
        'discriminator_overpowering': [
            slower_d, f'--d_steps=1 (now {d_steps})' if d_steps > 1 else None,
            penalty, other_loss],
        'vanishing_generator_gradient': [
            '--loss=non_saturating (-log D(G(z)) keeps a gradient when D wins)'
            if current == 'minimax' else None, slower_d, other_loss],
        'oscillation': [
            f'--lr_d={lr_d / 2:.2g} --lr_g={lr_g / 2:.2g} (smaller steps for both)',
            penalty, other_loss],
        'mode_collapse': [other_loss, f'--d_steps={d_steps + 1} (a better trained D '
                          'penalises the few modes G covers)', penalty],
        'non_finite': [f'--lr_d={lr_d / 10:.2g} --lr_g={lr_g / 10:.2g}', penalty],
    }
    options['low_diversity'] = options['mode_collapse']
    options['memorisation'] = [
        None if settings.options.get('diffaugment') else
        '--diffaugment=color,translation,cutout (D sees every image changed: harder '
        'to memorise, Zhao et al. 2020)',
        '--max_steps lower (the export keeps the best scoring; copies come late)',
        f'--lr_d={lr_d / 2:.2g} (a slower discriminator; now {lr_d:.2g})']
    # Every flag and loss an option names must exist (a library user's Config may
    # lack one; losses come and go).
    chosen = [o for o in options.get(kind, []) if o and
              set(re.findall(r'--(\w+)', o)) <= flags and
              set(re.findall(r'--loss=(\w+)', o)) <= loss_names]
    return '; or '.join(chosen[:3])


# --- the record ---------------------------------------------------------------------

def read_findings_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line for line in f if line.strip()]


def read_findings(run_dir):
    """The `Finding`s in `<run_dir>/health.jsonl`, or None when the monitor never
    ran there."""
    path = os.path.join(run_dir, 'health.jsonl')
    if not os.path.exists(path):
        return None
    return [Finding(**json.loads(line)) for line in read_findings_lines(path)]
