"""The run report of a real short CLI run: its sections, embedded images, the
monitor's findings, missing pieces, and how it looks in a real browser."""
import base64
import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_tf import cli, health, report
from conftest import REPO

CHROMIUM = '/usr/bin/chromium'  # Debian's package: apt-get install chromium


@pytest.fixture
def run_copy(short_run, tmp_path):
    """A copy of the short run (without its export and checkpoints), so a test can
    add or remove pieces without touching the run other tests read."""
    run_dir, _ = short_run
    copy = tmp_path / 'short'
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns('export', 'checkpoints'))
    for name in ('health.jsonl', 'evaluation.csv', 'report.html'):
        if (copy / name).exists():
            (copy / name).unlink()
    return copy


FINDINGS = [
    health.Finding(10, 'discriminator_overpowering',
                   "discriminator overpowering: D's accuracy 1.00 on real and 0.99 on "
                   'fake over the last 50 steps',
                   '--lr_d=5e-05 (a slower discriminator)'),
    health.Finding(30, 'discriminator_overpowering',
                   'discriminator overpowering: no longer seen', event='cleared'),
    health.Finding(40, 'mode_collapse', 'mode collapse: 3 of 10 classes',
                   '--loss=wgan_gp (now non_saturating)'),
    health.Finding(40, 'mode_collapse', 'mode collapse: 3 of 10 classes',
                   event='stopped'),
]
EVALUATION = ('step,fid,kid,precision,recall,density,coverage,classes_covered,class_kl,'
              'classifier_score,confident\n'
              '20,85.25,0.31,0.12,0.05,0.08,0.04,3,1.2,2.1,0.05\n'
              '40,20.123456,0.08,0.55,0.4,0.6,0.45,10,0.05,7.9,0.45\n')


def add_monitor_and_evaluation(run_dir):
    with open(run_dir / 'health.jsonl', 'w') as f:
        f.writelines(json.dumps(dataclasses.asdict(x)) + '\n' for x in FINDINGS)
    (run_dir / 'evaluation.csv').write_text(EVALUATION)


def embedded_images(page):
    """{alt: decoded image} of every data-URI <img> in `page`."""
    images = {}
    for src, alt in re.findall(r'<img src="data:image/\w+;base64,([^"]+)" alt="([^"]+)"',
                               page):
        images[alt] = Image.open(io.BytesIO(base64.b64decode(src)))
    return images


def test_report_shows_every_section_with_embedded_images(run_copy):
    add_monitor_and_evaluation(run_copy)
    path = report.write_report(str(run_copy))
    assert path == str(run_copy / 'report.html')
    page = open(path).read()
    config = json.loads((run_copy / 'config.json').read_text())['config']

    for section in ('summary', 'health', 'samples', 'curves', 'evaluation', 'config'):
        assert f'<section id="{section}">' in page, section
    assert 'src="samples/' not in page and 'src="progress' not in page  # all embedded
    images = embedded_images(page)
    assert images['samples at step 40'].size == Image.open(
        run_copy / 'samples' / 'step_000040.png').size
    assert images['progress of the samples'].format == 'GIF'
    assert images['progress of the samples'].n_frames == 3
    assert {'real training images', 'loss, D output, D accuracy and gradient norm '
            'curves'} <= set(images)

    summary = page[page.index('id="summary"'):page.index('id="health"')]
    assert '40 of 40' in summary and 'mnist' in summary and 'prepared' in summary
    assert config['arch'] in summary and config['loss'] in summary
    # Findings: each listed with its step, the stop at the top of the page.
    assert 'Stopped at step 40 by the health monitor: mode collapse: 3 of 10' in page
    for finding in FINDINGS:
        assert f'<tr class="{finding.event}"><td class="num">{finding.step}</td>' in page
    assert '<code class="flag">--lr_d=5e-05</code>' in page
    # The evaluation table, its last row highlighted and shortened.
    assert re.search(r'<tr class=last>(<td class="num">[^<]*</td>){11}</tr>', page)
    assert '<td class="num">20.12</td>' in page
    # Options that differ from the defaults are highlighted.
    assert '<div class=changed><span>batch_size</span><code>32</code>' in page


def test_missing_pieces_are_named_not_fatal(run_copy):
    shutil.rmtree(run_copy / 'samples')
    for name in ('progress.gif', 'curves.png', 'metrics.csv'):
        (run_copy / name).unlink()
    page = open(report.write_report(str(run_copy))).read()
    assert 'No health.jsonl: the training health monitor did not run here.' in page
    assert 'No evaluation.csv' in page
    assert 'No sample grids yet' in page and 'no progress.gif in this run' in page
    assert 'no curves.png in this run' in page
    assert 'none logged' in page


def test_a_quiet_monitor_says_so(run_copy):
    (run_copy / 'health.jsonl').write_text('')
    page = open(report.write_report(str(run_copy))).read()
    assert 'The health monitor saw no problems.' in page


def test_cli_rewrites_the_report_and_rejects_a_non_run(run_copy, tmp_path, capsys):
    (run_copy / 'report.html').write_text('old')
    result = subprocess.run([sys.executable, '-m', 'gan_tf.report', str(run_copy)],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(run_copy / 'report.html')
    assert '<section id="summary">' in (run_copy / 'report.html').read_text()
    with pytest.raises(SystemExit) as exit_:
        cli.main(report.COMMAND, ['report', str(tmp_path)])
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f'error: {tmp_path} is not a gan_tf run directory (no readable config.json)')


@pytest.mark.skipif(not os.path.exists(CHROMIUM),
                    reason=f'no {CHROMIUM}: install Debian\'s "chromium" package to '
                           'render the report in a real browser')
def test_report_renders_in_headless_chromium(run_copy, tmp_path):
    add_monitor_and_evaluation(run_copy)
    path = report.write_report(str(run_copy))
    screenshot = tmp_path / 'report.png'
    result = subprocess.run(
        [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
         '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync',
         f'--user-data-dir={tmp_path / "chromium-profile"}',
         f'--screenshot={screenshot}', '--window-size=1280,2000', f'file://{path}'],
        capture_output=True, text=True, timeout=120)
    assert screenshot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(screenshot).convert('L'), np.float32)
    assert pixels.shape == (2000, 1280)
    # Not blank: text, tables and images. Measured: std 66; 3.7% of the pixels
    # near black, nearly all of them the embedded real digits' and samples'
    # backgrounds (text alone: ~0.5%), so the images were decoded and drawn.
    assert pixels.std() > 30
    assert np.mean(pixels < 30) > 0.02
