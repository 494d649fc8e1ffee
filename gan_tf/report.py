"""`<run>/report.html`: the page to open first after a run.

    python -m gan_tf.report out/RUN      # (re)writes out/RUN/report.html; gan-tf report

One self-contained HTML file (plain HTML and CSS, no scripts): the summary, the
health monitor's findings, the last sample grid beside real images, the progress
GIF, the curves, sample quality over time (evaluation.csv) and every option.
Images are embedded as base64 data URIs, so the file can be mailed, attached to
an issue or kept as a CI artifact and still show everything; an image larger than
EMBED_LIMIT is linked relative to the run directory instead, keeping the page
light (the report sits in the run directory, so the link works in place). Pieces
a run lacks (no evaluation, no samples yet) are said to be missing, not an error.
"""
import base64
import csv
import datetime
import html
import os
import re

from gan_tf import artifacts, cli, config, health, registry
from gan_tf.errors import UserError

EMBED_LIMIT = 4 * 2 ** 20  # bytes; an MNIST progress GIF takes ~150 KB a frame
MIME = {'.png': 'image/png', '.gif': 'image/gif', '.jpg': 'image/jpeg'}

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2329;
       margin: 0; background: #f4f5f7; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
          padding: 18px 22px; margin: 18px 0; }
.sub { color: #5b6570; margin: 0; }
table { border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eceef1;
         vertical-align: top; }
th { color: #5b6570; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr));
         gap: 10px 18px; }
.fact b { display: block; font-size: 12px; color: #5b6570; font-weight: 600;
          text-transform: uppercase; letter-spacing: .04em; }
.fact span { font-size: 16px; }
.ok { color: #1a7f37; font-weight: 600; }
.fired td { background: #fff4e5; }
.stopped td { background: #ffe3e3; font-weight: 600; }
.cleared td { color: #6e7781; }
tr.last td { background: #e7f3ff; font-weight: 600; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr));
           gap: 22px; }
figure { margin: 0; }
figure img { display: block; width: 100%; max-width: 360px; image-rendering: pixelated;
             border: 1px solid #dde1e6; }
figcaption { font-size: 13px; color: #5b6570; margin-top: 4px; }
.curves img { width: 100%; max-width: none; image-rendering: auto; }
.verdict { margin: 14px 0 0; padding: 10px 14px; border-radius: 6px; font-weight: 600; }
.verdict.good { background: #e6f4ea; color: #1a7f37; }
.verdict.bad { background: #fff4e5; color: #8a4b00; }
.verdict.stop { background: #ffe3e3; color: #a40e26; }
code.flag { white-space: nowrap; }
.options { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
           gap: 0 28px; font-size: 14px; }
.options div { display: flex; justify-content: space-between; gap: 12px;
               border-bottom: 1px solid #eceef1; padding: 3px 0; }
.options span { color: #5b6570; }
.options .changed span, .options .changed code { color: #0b57d0; font-weight: 600; }
.scroll { overflow-x: auto; }
.missing { color: #6e7781; font-style: italic; }
code { font-size: 13px; background: #f0f2f4; padding: 1px 4px; border-radius: 3px; }
"""


def write_report(run_dir, path=None):
    """Writes the report of `run_dir` to `path` (default `<run_dir>/report.html`);
    returns the path."""
    record = artifacts.read_record(os.path.join(run_dir, 'config.json'))
    if 'config' not in record:
        raise UserError(f'{run_dir} is not a gan_tf run directory (no readable '
                        'config.json)')
    path = path or os.path.join(run_dir, 'report.html')
    metrics_csv = os.path.join(run_dir, 'metrics.csv')
    metrics = artifacts.read_metrics(metrics_csv) if os.path.exists(metrics_csv) else {}
    name = os.path.basename(os.path.normpath(run_dir))
    findings = health.read_findings(run_dir)
    body = [
        f'<h1>{_escape(name)}</h1><p class="sub">gan_tf run report, written '
        f'{datetime.datetime.now().strftime("%Y-%m-%d %H:%M")} from <code>'
        f'{_escape(os.path.abspath(run_dir))}</code></p>{_verdict(findings)}',
        _summary(run_dir, record, metrics),
        _findings(findings),
        _samples(run_dir),
        _curves(run_dir),
        _evaluation(run_dir),
        _config(record),
    ]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{_escape(name)}: gan_tf report</title><style>{CSS}</style></head>'
            f'<body><main>\n' + '\n'.join(body) + '\n</main></body></html>\n')
    artifacts.write_file(path, page)
    return path


def _d_steps(options):
    """--d_steps as the run used it: none given means the loss's own."""
    loss = registry.LOSSES.get(options.get('loss'))
    return loss.d_steps(options.get('d_steps')) if loss else options.get('d_steps') or '?'

def _escape(value):
    return html.escape(str(value))


def _section(title, content, id_):
    return f'<section id="{id_}"><h2>{_escape(title)}</h2>\n{content}\n</section>'


def _missing(text):
    return f'<p class="missing">{_escape(text)}</p>'


def _image(run_dir, relative, alt, caption, css=''):
    """A <figure> of `run_dir/relative`, embedded when small enough."""
    full = os.path.join(run_dir, relative)
    if not os.path.isfile(full):
        return _missing(f'{caption}: no {relative} in this run.')
    if os.path.getsize(full) <= EMBED_LIMIT:
        with open(full, 'rb') as f:
            data = base64.b64encode(f.read()).decode('ascii')
        ext = os.path.splitext(full)[1].lower()
        src = f'data:{MIME.get(ext, "application/octet-stream")};base64,{data}'
    else:
        src = relative  # too big to embed: a link that works beside the run
    return (f'<figure class="{css}"><img src="{src}" alt="{_escape(alt)}">'
            f'<figcaption>{_escape(caption)}</figcaption></figure>')


def training_seconds(metrics):
    """Training time over all of a run's processes: `seconds` restarts at every
    --resume, so sum the last value of each stretch."""
    seconds = list(metrics.get('seconds', []))
    ends = [a for a, b in zip(seconds, seconds[1:]) if b < a]
    return sum(ends) + (seconds[-1] if seconds else 0)


def _duration(seconds):
    minutes, s = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes:02d} min' if hours else f'{minutes} min {s:02d} s'


def _summary(run_dir, record, metrics):
    config = record.get('config', {})
    step = int(metrics['step'][-1]) if 'step' in metrics else None
    planned = config.get('max_steps')
    facts = [
        ('dataset', config.get('dataset')),
        ('architecture', config.get('arch')),
        ('loss', config.get('loss')),
        ('steps', (f'{step:,}' if step is not None else 'none logged') +
         (f' of {planned:,}' if planned else
          f' ({config.get("epochs")} epochs planned)')),
        ('training time', _duration(training_seconds(metrics)) if metrics else 'n/a'),
        ('data source', record.get('data_source')),
        ('images', f'{record["num_examples"]:,} of shape '
                   f'{"x".join(map(str, record["image_shape"]))}'
         if 'num_examples' in record else None),
        ('batch, D steps', f'{config.get("batch_size")}, {_d_steps(config)}'),
        ('learning rates G / D', f'{config.get("lr_g")} / {config.get("lr_d")}'),
        ('resumed from step', record.get('started_at_step') or None),
        ('export', _export_fact(record.get('export'))),
        ('judge', _judge_fact(record.get('judge'))),
        ('TensorFlow / Keras', ' / '.join(
            record.get('versions', {}).get(k, '?') for k in ('tensorflow', 'keras'))),
    ]
    if 'images_per_second' in metrics and len(metrics['images_per_second']):
        facts.append(('speed', f'{metrics["images_per_second"][-1]:,.0f} images/s'))
    cells = ''.join(f'<div class="fact"><b>{_escape(k)}</b><span>{_escape(v)}</span></div>'
                    for k, v in facts if v not in (None, ''))
    last = ''
    if metrics:
        keys = [k for k in ('d_loss', 'g_loss', 'D_x', 'D_G_z', 'acc_real', 'acc_fake',
                            'g_grad_norm') if k in metrics]
        last = ('<p>Last logged means (step ' + str(step) + '): ' + ', '.join(
            f'{k} <b>{metrics[k][-1]:.3g}</b>' for k in keys) + '</p>')
    detail = record.get('data_detail')
    detail = f'<p class="sub">Data: {_escape(detail)}</p>' if detail else ''
    return _section('Summary', f'<div class="facts">{cells}</div>{last}{detail}',
                    'summary')


def _export_fact(exported):
    """Which generator export/ holds: the best scoring's, or the last weights."""
    if not exported:
        return None
    if exported.get('fid') is None:
        return f'step {exported["step"]:,} (the last)'
    return f'step {exported["step"]:,} (best FID, {exported["fid"]:.2f})'


def _judge_fact(judge):
    """What judged the samples and how well it does on images it did not learn
    (config.json's `judge`: the judge's cached record)."""
    if not judge:
        return None
    task = ('classes' if judge.get('task', 'classes') == 'classes' else
            'rotations (no labels)')
    if judge.get('test_accuracy') is None:
        return f'{task}; accuracy not measured (too few images to hold any out)'
    held = f' ({judge["held_out"]:,} images)' if judge.get('held_out') else ''
    return (f'{task}: {judge["test_accuracy"]:.1%} right on '
            f'{judge.get("held_out_from", "the test split")}{held}')


def _verdict(findings):
    """One line at the top: what the health monitor concluded."""
    if findings is None:
        return ''
    stopped = [f for f in findings if f.event == 'stopped']
    fired = [f for f in findings if f.event == 'fired']
    if stopped:
        return (f'<p class="verdict stop">Stopped at step {stopped[-1].step:,} by the '
                f'health monitor: {_escape(stopped[-1].message)}</p>')
    if fired:
        kinds = sorted({health.NAMES.get(f.kind, f.kind) for f in fired})
        return (f'<p class="verdict bad">The health monitor saw {len(fired)} '
                f'problem{"s" if len(fired) > 1 else ""}: {_escape(", ".join(kinds))} '
                '(below).</p>')
    return '<p class="verdict good">The health monitor saw no problems.</p>'


def _flags_as_code(text):
    """Escapes `text`, setting each --flag=value in unbreakable code."""
    return re.sub(r'(--\w+(?:=\S+)?)', r'<code class="flag">\1</code>', _escape(text))


def _findings(findings):
    if findings is None:
        return _section('Health monitor', _missing(
            'No health.jsonl: the training health monitor did not run here.'), 'health')
    if not any(f.event in ('fired', 'stopped') for f in findings):
        return _section('Health monitor', '<p class="ok">No problems seen: '
                        "D's accuracy, the gradients, the modes and the diversity "
                        'of samples stayed within bounds.</p>', 'health')
    rows = ''.join(
        f'<tr class="{f.event}"><td class="num">{f.step:,}</td><td>{_escape(f.event)}</td>'
        f'<td>{_escape(f.message)}</td><td>{_flags_as_code(f.suggestion)}</td></tr>'
        for f in findings)
    return _section('Health monitor', (
        '<div class="scroll"><table><tr><th>step</th><th>event</th><th>finding</th>'
        f'<th>try</th></tr>{rows}</table></div>'), 'health')


def _samples(run_dir):
    samples_dir = os.path.join(run_dir, 'samples')
    grids = sorted(n for n in os.listdir(samples_dir)
                   if n.startswith('step_')) if os.path.isdir(samples_dir) else []
    figures = []
    if grids:
        step = _grid_step(grids[-1])
        figures.append(_image(run_dir, os.path.join('samples', grids[-1]),
                              f'samples at step {step}',
                              f'Samples at step {step:,} (fixed noise)'))
    else:
        figures.append(_missing('No sample grids yet (samples/).'))
    figures.append(_image(run_dir, 'progress.gif', 'progress of the samples',
                          f'Progress, animated: {len(grids)} grids from step '
                          f'{_grid_step(grids[0])} on' if grids else 'Progress'))
    figures.append(_image(run_dir, 'real.png', 'real training images',
                          'Real training images'))
    return _section('Samples', f'<div class="figures">{"".join(figures)}</div>',
                    'samples')


def _grid_step(name):
    return int(name[len('step_'):-len('.png')])  # samples/step_NNNNNN.png


def _curves(run_dir):
    return _section('Training curves', _image(
        run_dir, 'curves.png', 'loss, D output, D accuracy and gradient norm curves',
        "Means over each logged interval; D's accuracy should drift toward 0.5.",
        css='curves'), 'curves')


def _evaluation(run_dir):
    path = os.path.join(run_dir, 'evaluation.csv')
    if not os.path.exists(path):
        return _section('Sample quality over time', _missing(
            'No evaluation.csv: sample quality was not measured during this run '
            '(python -m gan_tf.evaluate measures an export afterwards).'), 'evaluation')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return _section('Sample quality over time', _missing('evaluation.csv is empty.'),
                        'evaluation')
    columns = list(rows[0])
    head = ''.join(f'<th>{_escape(c)}</th>' for c in columns)
    body = ''.join(
        f'<tr{" class=last" if i == len(rows) - 1 else ""}>' +
        ''.join(f'<td class="num">{_escape(_number(row[c]))}</td>' for c in columns) +
        '</tr>' for i, row in enumerate(rows))
    note = ('<p class="sub">Lower is better for fid, kid, class_kl and memorised (the '
            'share of samples copying a training image); higher for the others. The '
            'last row (highlighted) is the final generator.</p>')
    judge = artifacts.read_record(os.path.join(run_dir, 'config.json')).get('judge') or {}
    note += ''.join(f'<p class="sub">{_escape(line)}</p>'
                    for line in judge.get('left_out', []))
    copied = ''
    if os.path.isfile(os.path.join(run_dir, 'copies.png')):
        memorised = rows[-1].get('memorised')
        memorised = f'{float(memorised):.1%}' if memorised else '?'
        copied = _image(run_dir, 'copies.png', 'most-copied samples above their nearest '
                        'training images',
                        f'The 8 final samples nearest a training image (top) above the '
                        f'training image nearest each (bottom): what a copy would look '
                        f'like. Memorised at the end: {memorised} of all samples scored.')
    return _section('Sample quality over time', f'<div class="scroll"><table><tr>'
                    f'{head}</tr>{body}</table></div>{note}{copied}', 'evaluation')


def _number(text):
    """A CSV cell, shortened to 4 significant digits when it is a float."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    if value.is_integer() and '.' not in text and 'e' not in text.lower():
        return f'{int(value):,}'
    return f'{value:.4g}'


def _config(record):
    """Every option, those that differ from today's defaults for the run's
    architecture highlighted."""
    options = record.get('config', {})
    cells = []
    for key, value in options.items():
        changed = key in config.FIELDS and _flag_value(
            config.default(key, options.get('arch'))) != _flag_value(value)
        cells.append(f'<div{" class=changed" if changed else ""}><span>{_escape(key)}</span>'
                     f'<code>{_escape(_flag_value(value))}</code></div>')
    versions = ', '.join(f'{k} {v}' for k, v in record.get('versions', {}).items())
    argv = ' '.join(record.get('argv', []))
    extra = ('<p class="sub">Highlighted: options that differ from the defaults.</p>')
    extra += f'<p class="sub">Command: <code>{_escape(argv)}</code></p>' if argv else ''
    extra += f'<p class="sub">Versions: {_escape(versions)}</p>' if versions else ''
    return _section('Configuration', f'<div class="options">{"".join(cells)}</div>'
                    f'{extra}', 'config')


def _flag_value(value):
    """An option's value as its flag would show it ('(default)' for empty ones)."""
    return config.flag_text(value) or '(default)'


COMMAND = cli.Command('report', __doc__, lambda flag_values: None,
                      run=lambda flags: print(write_report(flags.arguments[0])),
                      positional=1, tensorflow=False)

if __name__ == '__main__':
    cli.main(COMMAND)
