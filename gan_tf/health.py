"""A training health monitor: watches a GAN as it trains and names what goes wrong.

A GAN's losses do not say whether it is learning; the usual failures are a
discriminator that overpowers the generator, a generator gradient that vanishes,
mode collapse and oscillation (Goodfellow 2016, "NIPS 2016 Tutorial: Generative
Adversarial Networks", section 5; Salimans et al. 2016, "Improved Techniques for
Training GANs"). `HealthMonitor` is a Keras callback that watches for each of them
and reports a `Finding` (step, kind, message, suggestion) once when a condition
starts and once when it clears: one warning line on stderr, one line of
`<run>/health.jsonl`, and a TensorBoard text marker at that step.

Step detectors judge means over a window of recent steps, so one noisy batch never
fires; probe detectors look at generated samples every `probe_every` steps.
"""
import dataclasses
import json
import math
import os
import re
import sys
from collections import deque

import keras
import numpy as np

from gan_tf.gan import METRICS

# --- thresholds (each measured or argued below) ---------------------------------
# Steps averaged before a step detector judges. One batch of 64 gives D's accuracy a
# binomial noise of up to +-0.06; the mean of 50 steps, +-0.01.
WINDOW = 50
# D's mean accuracy on real AND on fake over the window at or above this: D tells
# every image apart and G learns from saturated scores. Measured on MNIST (mlp,
# non_saturating, batch 64, lr 2e-4 both, seed 0): 50-step means stay below 0.95 on
# real and 0.83 on fake for 1000 steps; with D's learning rate 100 times G's both
# reach 0.98-1.0 within 60 steps.
OVERPOWERING_ACCURACY = 0.95
# The generator gradient norm's window median below this fraction of its peak (the
# highest median of GRADIENT_PEAK_STEPS steps so far: short, since G's gradient is
# largest at the start and may fall within tens of steps; a median, so one spike
# is no peak). Measured on MNIST (mlp, batch 64, seed 0): a healthy run stays
# above 0.64 of its peak for 1000 steps; D's learning rate 100 times G's, minimax
# loss: the norm falls with D(G(z)), to 0.005 of its peak by step 177 and 0.0016 by
# step 300; a chaotic D (lr_d 2e-2) leaves G's norm at 0.012 of a wild early peak,
# still a strong gradient, hence 0.005 rather than 0.01.
VANISHING_GRADIENT_RATIO = 0.005
GRADIENT_PEAK_STEPS = 10
# Oscillation: D's accuracy on fake, averaged over blocks of OSCILLATION_BLOCK
# steps, swinging by at least OSCILLATION_SWING, OSCILLATION_LEGS times (up, down,
# up, down) within the last OSCILLATION_BLOCKS blocks: G and D take turns winning
# instead of settling. 25-step block means vary by ~0.02 from batch noise and a
# healthy run's drift moves them by at most ~0.1 a block; 0.3 is a change of side.
OSCILLATION_BLOCK = 25
OSCILLATION_BLOCKS = 8
OSCILLATION_SWING = 0.3
OSCILLATION_LEGS = 4
# Samples generated (from fixed noise) for each probe of modes and diversity.
PROBE_SAMPLES = 500
# A class counts as covered when it gets at least this fraction of its fair share
# of the samples (2% of them for 10 classes): gan_tf.evaluate's classes_covered.
COVERED_FAIR_SHARE = 0.2
# The class histogram is judged only once at least this share of samples is
# classified with probability above CONFIDENT_PROBABILITY: before that the samples
# are blobs, which the classifier puts in one or two arbitrary classes (measured:
# a healthy mlp run's untrained blobs "cover" 1 class until step ~250, with 0%
# confident; by step 500 23% are confident and 9 of 10 classes covered).
RECOGNISABLE_SHARE = 0.2
CONFIDENT_PROBABILITY = 0.9  # gan_tf.evaluate's "confident"
# Mode collapse: at most this fraction of the classes covered (5 of 10). Measured as
# above: once samples are recognisable, a healthy run covers 7-10 of 10.
COLLAPSED_CLASSES = 0.5
# Sample diversity: mean pairwise L2 distance between samples divided by the same
# between real images. 0 when every sample is the same image; an untrained mlp
# generator already gives 0.22-0.27 (its blobs vary little), a healthy run climbs
# to 0.6 by step 600 and 0.78 by step 1000 (measured as above). Below 0.1 the
# samples are near copies of each other (Salimans et al. 2016 watch the same
# closeness of samples in minibatch discrimination).
LOW_DIVERSITY = 0.1
DIVERSITY_SAMPLES = 200  # pairwise distances: 200 samples give 19,900 pairs
# Probe detectors must agree on this many consecutive probes (one bad probe may be
# a generator passing through a bad spot).
COLLAPSE_PROBES = 2

# Losses a remedy may suggest instead of the current one, best first: a critic
# with a gradient penalty keeps giving G a gradient when it wins (Gulrajani et al.
# 2017), hinge and least squares saturate less than cross-entropy. Only those in
# losses.LOSSES at run time are named.
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


def class_coverage(probabilities):
    """(classes covered, number of classes, share confident, class shares)."""
    probabilities = np.asarray(probabilities)
    classes = probabilities.shape[1]
    shares = np.bincount(probabilities.argmax(1), minlength=classes) / len(probabilities)
    covered = int(np.sum(shares >= COVERED_FAIR_SHARE / classes))
    confident = float(np.mean(probabilities.max(1) > CONFIDENT_PROBABILITY))
    return covered, classes, confident, shares


def classify_with(classifier):
    """A `classify` for HealthMonitor from a Keras classifier that outputs class
    logits (gan_tf.evaluate's judging classifier). It calls the model directly:
    `predict` would trace a new function at every probe."""
    def classify(images):
        logits = classifier(np.asarray(images, np.float32), training=False)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    return classify


def mode_collapse(probe):
    """Few classes covered among samples that are recognisable at all."""
    if 'classes_covered' not in probe or probe['confident'] < RECOGNISABLE_SHARE:
        return None
    covered, classes = probe['classes_covered'], probe['classes']
    if covered > COLLAPSED_CLASSES * classes:
        return None
    top = np.argsort(probe['class_shares'])[::-1][:covered]
    return (f'mode collapse: {covered} of {classes} classes (samples classified as '
            f'{", ".join(str(c) for c in sorted(top))}; '
            f'{probe["confident"]:.0%} recognisable)')


def low_diversity(probe):
    """Samples (nearly) copies of each other."""
    value = probe.get('diversity')
    if value is None or value >= LOW_DIVERSITY:
        return None
    return (f'mode collapse: samples nearly identical (their mean pairwise distance '
            f"is {value:.2f} of real images')")


PROBE_DETECTORS = {'mode_collapse': mode_collapse, 'low_diversity': low_diversity}
NAMES = {'non_finite': 'non-finite metrics',
         'discriminator_overpowering': 'discriminator overpowering',
         'vanishing_generator_gradient': 'vanishing generator gradient',
         'oscillation': 'oscillation', 'mode_collapse': 'mode collapse',
         'low_diversity': 'nearly identical samples'}


# --- suggestions ----------------------------------------------------------------------

def _available():
    """(Config field names, loss names) that exist now."""
    from gan_tf import losses
    from gan_tf.config import Config
    return {f.name for f in dataclasses.fields(Config)}, set(losses.LOSSES)


def _loss_name(model):
    from gan_tf import losses
    loss = getattr(model, 'gan_loss', None)
    return next((name for name, l in losses.LOSSES.items() if l == loss), None)


def _learning_rate(optimizer):
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def suggest(kind, model):
    """One line of at most three remedies for `kind`, naming only flags and losses
    that exist now (Config fields, losses.LOSSES) with values for `model`."""
    flags, loss_names = _available()
    current = _loss_name(model)
    lr_d, lr_g = _learning_rate(model.d_optimizer), _learning_rate(model.g_optimizer)
    d_steps = getattr(model, 'd_steps', 1)
    other_loss = next((f'--loss={n} (now {current or "a custom loss"})'
                       for n in OTHER_LOSSES if n in loss_names and n != current), None)
    penalty = next((f'--{flag}={value} ({what})' for flag, value, what in PENALTIES
                    if flag in flags and not getattr(model, flag, 0)), None)
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
    # Every flag and loss an option names must exist (a library user's Config may
    # lack one; losses come and go).
    chosen = [o for o in options.get(kind, []) if o and
              set(re.findall(r'--(\w+)', o)) <= flags and
              set(re.findall(r'--loss=(\w+)', o)) <= loss_names]
    return '; or '.join(chosen[:3])


# --- the callback ---------------------------------------------------------------------

class HealthMonitor(keras.callbacks.Callback):
    """Watches a `GAN` during `fit` and reports `Finding`s.

    run_dir: where `health.jsonl` goes (None: nowhere). writer: a `tf.summary`
    writer for text markers and probe scalars. classify: images in [-1, 1] ->
    class probabilities [n, classes], for the mode histogram (probabilities, not
    ids: confidence tells digits from early blobs). real_images: a batch of real
    images, the yardstick of sample diversity. probe_every: steps between probes
    of modes and diversity. stop_on_collapse: stop training (`stop_reason` says
    why) on mode collapse or near-identical samples. stream: where warnings go.
    """

    def __init__(self, run_dir=None, writer=None, classify=None, real_images=None,
                 probe_every=500, stop_on_collapse=False, seed=0, stream=None):
        super().__init__()
        self.path = os.path.join(run_dir, 'health.jsonl') if run_dir else None
        self.writer, self.classify = writer, classify
        self.real_images, self.probe_every = real_images, probe_every
        self.stop_on_collapse, self.seed = stop_on_collapse, seed
        self.stream = stream
        self.findings, self.probes, self.stop_reason = [], [], None
        self.history = {k: deque(maxlen=OSCILLATION_BLOCK * OSCILLATION_BLOCKS)
                        for k in METRICS}
        self.active = {}  # kind -> step it last held
        self.state = {k: {} for k in STEP_DETECTORS}
        self.streak = dict.fromkeys(PROBE_DETECTORS, 0)

    def on_train_begin(self, logs=None):
        step = int(self.model.step)
        if self.path:
            self._truncate_after(step)
        self.reference = (mean_pairwise_distance(self.real_images)
                          if self.real_images is not None else None)
        rng = np.random.default_rng(self.seed)
        shape = (PROBE_SAMPLES, self.model.latent_dim)
        self.noise = (rng.uniform(-1, 1, shape) if getattr(self.model, 'noise', '')
                      == 'uniform' else rng.standard_normal(shape)).astype(np.float32)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.step)
        bad = []
        for key in METRICS:
            if key in logs:
                value = float(logs[key])
                self.history[key].append(value)
                if not math.isfinite(value):
                    bad.append(key)
        self._judge(step, 'non_finite',
                    f'non-finite: {", ".join(bad)} became NaN or Inf' if bad else None,
                    clear_after=WINDOW)
        for kind, detector in STEP_DETECTORS.items():
            self._judge(step, kind, detector(self.history, self.state[kind]),
                        clear_after=WINDOW)
        if step % self.probe_every == 0 and (self.classify or self.reference):
            self.probe(step)

    def probe(self, step):
        """Measures classes covered and diversity of samples from fixed noise."""
        samples = np.asarray(self.model.generator(self.noise, training=False))
        probe = {'step': step}
        if self.reference:
            probe['diversity'] = diversity(samples, self.reference)
        if self.classify:
            covered, classes, confident, shares = class_coverage(self.classify(samples))
            probe.update(classes_covered=covered, classes=classes,
                         confident=confident, class_shares=shares.tolist())
        self.probes.append(probe)
        self._scalars(step, probe)
        held = {}  # collapse kinds seen on COLLAPSE_PROBES probes in a row
        for kind, detector in PROBE_DETECTORS.items():
            message = detector(probe)
            self.streak[kind] = self.streak[kind] + 1 if message else 0
            if self.streak[kind] >= COLLAPSE_PROBES:
                held[kind] = message
            self._judge(step, kind, held.get(kind),
                        clear_after=COLLAPSE_PROBES * self.probe_every)
        if self.stop_on_collapse and held and not self.stop_reason:
            kind, self.stop_reason = next(iter(held.items()))
            self.model.stop_training = True
            self._record(Finding(step, kind, self.stop_reason, event='stopped'))

    def _judge(self, step, kind, message, clear_after):
        """Fires `kind` when `message` starts; clears it `clear_after` steps after
        it last held."""
        if message:
            if kind not in self.active:
                self._record(Finding(step, kind, message, suggest(kind, self.model)))
            self.active[kind] = step
        elif kind in self.active and step - self.active[kind] >= clear_after:
            del self.active[kind]
            self._record(Finding(step, kind, f'{NAMES[kind]}: no longer seen',
                                 event='cleared'))

    def _record(self, finding):
        self.findings.append(finding)
        print(finding.line(), file=self.stream or sys.stderr, flush=True)
        if self.path:
            with open(self.path, 'a') as f:
                f.write(json.dumps(dataclasses.asdict(finding)) + '\n')
        if self.writer:
            import tensorflow as tf
            with self.writer.as_default(step=finding.step):
                tf.summary.text('health', f'**{finding.event}** {finding.line()}',
                                step=finding.step)

    def _scalars(self, step, probe):
        if not self.writer:
            return
        import tensorflow as tf
        with self.writer.as_default(step=step):
            for key in ('diversity', 'classes_covered', 'confident'):
                if key in probe:
                    tf.summary.scalar(f'health/{key}', probe[key], step=step)

    def _truncate_after(self, step):
        """Starts health.jsonl, keeping (on resume) findings up to `step`."""
        kept = [line for line in read_findings_lines(self.path)
                if json.loads(line)['step'] <= step]
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, 'w') as f:
            f.writelines(kept)


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
