import glob
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO, shared_files


def test_train_with_fit_example_runs_and_writes_samples(mnist_data_dir, tmp_path):
    script = os.path.join(REPO, 'examples', 'train_with_fit.py')
    result = subprocess.run([sys.executable, script, shared_files('mnist'), '30'],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, 'TFDS_DATA_DIR': mnist_data_dir})  # prepared
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'trained 30 steps' in result.stdout
    assert Image.open(tmp_path / 'samples.png').size == (8 * 30 * 2 + 4, 8 * 30 * 2 + 4)


@pytest.mark.slow  # every flagfile is parsed into a Config by the default suite
def test_flagfile_example_trains(mnist_data_dir, tmp_path):
    from conftest import run_cli
    result = run_cli(f'--flagfile={os.path.join(REPO, "examples", "mlp.flags")}',
                     f'--data_dir={mnist_data_dir}', f'--out_dir={tmp_path}',
                     '--max_steps=5', '--noexport', '--eval_every=0', '--nohealth_classes')
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / 'mnist-mlp-non_saturating' / 'config.json').read_text())
    assert config['config']['epochs'] == 20 and config['config']['max_steps'] == 5


@pytest.mark.parametrize('flagfile', sorted(
    os.path.basename(p) for p in glob.glob(os.path.join(REPO, 'examples', '*.flags'))))
def test_every_flagfile_is_a_valid_recipe_for_its_architecture(flagfile):
    from absl import flags

    from gan_tf import cli
    flag_values = flags.FlagValues()
    cli.define_config_flags(flag_values)
    flag_values(['gan_tf', f'--flagfile={os.path.join(REPO, "examples", flagfile)}'])
    config = cli.config_from_flags(flag_values)
    # Named after the architecture it trains (conditional.flags: an mlp recipe;
    # folder.flags: dcgan's for small folders of your own images).
    if flagfile == 'conditional.flags':
        assert config.conditional and config.arch == 'mlp'
        assert config.dataset == 'fashion_mnist'
    elif flagfile == 'folder.flags':
        assert config.arch == 'dcgan' and config.diffaugment and config.ema_decay
        text = open(os.path.join(REPO, 'examples', flagfile)).read()
        assert '--dataset' not in text.replace('--dataset=path', '')  # the user's own
        assert '../shared' not in text
    else:
        assert config.arch == flagfile.removesuffix('.flags')
