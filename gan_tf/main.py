"""Command line: `python -m gan_tf.main --arch=mlp --dataset=mnist`.

Every `gan_tf.config.Config` field is a flag of the same name; `--flagfile`
reads flags from a file. Run with `--helpfull` for the list.
"""
import dataclasses
import sys
import typing

from absl import app, flags, logging

from gan_tf import train
from gan_tf.config import Config, choices
from gan_tf.errors import UserError


def _flag_type(field):
    """int for `int` and `Optional[int]`, and so on."""
    args = [t for t in typing.get_args(field.type) if t is not type(None)]
    return args[0] if args else field.type


def define_flags(flag_values=flags.FLAGS):
    """One absl flag per `Config` field, with its default, help and bounds."""
    for field in dataclasses.fields(Config):
        name, default, meta = field.name, field.default, field.metadata
        kind = _flag_type(field)
        if choices(field):
            flags.DEFINE_enum(name, default, choices(field), meta['help'],
                              flag_values=flag_values)
        elif kind in (int, float):
            define = flags.DEFINE_integer if kind is int else flags.DEFINE_float
            define(name, default, meta['help'], lower_bound=meta['lower_bound'],
                   flag_values=flag_values)
        else:
            define = {bool: flags.DEFINE_bool, tuple: flags.DEFINE_list,
                      str: flags.DEFINE_string}[kind]
            define(name, list(default) if kind is tuple else default, meta['help'],
                   flag_values=flag_values)


def config_from_flags(flag_values=flags.FLAGS):
    values = {}
    for field in dataclasses.fields(Config):
        value = flag_values[field.name].value
        if field.type is tuple:
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                raise UserError(f'--{field.name}={",".join(value)}: expected '
                                'comma-separated integers, e.g. 256,512,1024') from None
        values[field.name] = value
    return Config(**values)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    if not flags.FLAGS['verbosity'].present:
        logging.set_verbosity(logging.WARNING)  # tfds and SavedModel INFO chatter
    try:
        train.train_and_evaluate(config_from_flags())
    except UserError as e:
        if flags.FLAGS.traceback:
            raise
        sys.exit(f'error: {e}')


def parse_flags(argv):
    """absl's parser, with a bad flag reported in one line like every other error."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        sys.exit(f'error: {e} (see --helpfull)')


def run():
    """Entry point of the `gan-tf` console script."""
    define_flags()
    flags.DEFINE_bool('traceback', False, 'On an error, also print the Python '
                      'traceback (for bug reports).')
    app.run(main, flags_parser=parse_flags)


if __name__ == '__main__':
    run()
