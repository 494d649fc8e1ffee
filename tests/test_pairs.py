"""Every (architecture, loss) pair trains on real MNIST without NaN or Inf and
leaves every artifact, through `train_and_evaluate` as the command line runs it.

The default suite runs two convolutional pairs (each loss and architecture also
trains a few steps of `fit` in test_stabilisers.py and test_models.py);
`pytest -m slow` runs the whole grid."""
import csv

import numpy as np
import pytest
from PIL import Image

from gan_tf import train
from gan_tf.config import Config
from gan_tf.registry import ARCHITECTURES, LOSSES

FAST = {('sagan', 'hinge')}  # attention, spectral norm, a non-default loss
PAIRS = [pytest.param(arch, loss, marks=() if (arch, loss) in FAST else pytest.mark.slow)
         for arch in sorted(ARCHITECTURES) for loss in sorted(LOSSES)]


@pytest.mark.parametrize('arch, loss', PAIRS)
def test_pair_trains_and_leaves_every_artifact(arch, loss, mnist_data_dir, tmp_path):
    # dcgan's batch-normalised D cannot take wgan_gp's penalty (refused, see
    # test_bad_input.py); spectral normalisation replaces its batch norm.
    spectral_norm = arch == 'dcgan' and LOSSES[loss].gradient_penalty
    config = Config(arch=arch, loss=loss, spectral_norm=spectral_norm,
                    conditional=LOSSES[loss].conditional, dataset='mnist',
                    data_dir=mnist_data_dir, out_dir=str(tmp_path), batch_size=16,
                    max_steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                    eval_every=0, health_classes=False, seed=0)
    run_dir = train.train_and_evaluate(config)

    with open(f'{run_dir}/metrics.csv') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['step']) for r in rows] == [2, 4]
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())
    for name in ('real.png', 'curves.png', 'samples/step_000000.png',
                 'samples/step_000004.png'):
        assert Image.open(f'{run_dir}/{name}').format == 'PNG', name
    assert Image.open(f'{run_dir}/progress.gif').n_frames == 3
    for name in ('config.json', 'checkpoints/ckpt-4.index', 'export/saved_model.pb',
                 'health.jsonl', 'report.html'):
        assert (tmp_path / config.run_dir_name / name).exists(), name
