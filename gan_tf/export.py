"""Re-exports a run's generator: python -m gan_tf.export --run_dir=out/RUN

    python -m gan_tf.export --run_dir=out/RUN [--export_dir=DIR] [--overwrite]
        [--export_formats=saved_model,litert,litert_fp16,onnx]

Writes the generator of the run's newest readable checkpoint (a damaged newest one
is skipped with a warning, as --resume does) as a SavedModel, and converted to
each of --export_formats beside it, to <run_dir>/export by default; an existing
export is replaced only with --overwrite. Also `gan-tf export`.
"""
from absl import flags

from gan_tf import cli, config
from gan_tf.config import Config


def define_flags(flag_values):
    flags.DEFINE_string('run_dir', None, 'Run directory, e.g. out/mnist-mlp-non_saturating '
                        '(or one checkpoint prefix in its checkpoints/ folder).',
                        flag_values=flag_values)
    flags.DEFINE_string('export_dir', '', 'Where to write (default: <run_dir>/export).',
                        flag_values=flag_values)
    flags.DEFINE_bool('overwrite', False, 'Replace an existing export.',
                      flag_values=flag_values)
    field = config.FIELDS['export_formats']
    flags.DEFINE_list('export_formats', list(field.metadata['default']), field.metadata['help'],
                      flag_values=flag_values)
    flags.mark_flag_as_required('run_dir', flag_values=flag_values)


def check_flags(values):
    """The flags, --export_formats checked and ordered as training's is, and the
    extras it needs found, before TensorFlow starts."""
    values.export_formats = Config(export_formats=values.export_formats).export_formats
    config.check_export_extras(values.export_formats)
    return values


COMMAND = cli.Command('export', __doc__, define_flags, run='gan_tf.exports:export',
                      options=check_flags)

if __name__ == '__main__':
    cli.main(COMMAND)
