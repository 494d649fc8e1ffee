"""The one command-line pattern of every gan_tf command.

    python -m gan_tf.main --arch=mlp --dataset=mnist     (train; also: gan-tf train)
    python -m gan_tf.evaluate | sample | export | report | bench ...

A `Command` is its flags, defined without TensorFlow, and the function that does
the work, named by path and imported only once the flags are parsed and checked:
a mistyped flag is reported in well under a second instead of after TensorFlow's
start-up. Every command takes `--flagfile` (one `--flag=value` per line),
`--helpfull` and `--traceback`, and every mistake ends the same way: one
`error: ...` line on stderr and exit status 1 (a signal's 128 + its number).
"""
import dataclasses
import os
import sys
import tempfile
import types
import warnings
from typing import Callable, Union

from absl import flags, logging

from gan_tf import config, registry
from gan_tf.config import Config
from gan_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class Command:
    """name: the `gan-tf` subcommand. doc: the usage text (the module docstring).
    define_flags(flag_values): defines the command's flags. run: the function
    doing the work, or its 'module:function' path; it gets `options(values)`, where
    `values` has an attribute per flag and `arguments`, the positional arguments
    (by default `values` itself). positional: how many arguments besides flags
    the command takes.
    tensorflow: whether `run` needs TensorFlow (started quietly first)."""
    name: str
    doc: str
    define_flags: Callable
    run: Union[str, Callable]
    options: Callable = lambda flag_values: flag_values
    positional: int = 0
    tensorflow: bool = True


def main(command, argv=None):
    """Runs `command` with `argv` (default sys.argv); exits with its status."""
    argv = list(sys.argv if argv is None else argv)
    if {'--help', '--helpfull', '-h', '-help', '--helpshort'} & set(argv[1:]):
        print(usage(command))
        sys.exit(0)
    traceback = '--traceback' in argv
    _one_line_warnings()
    try:
        options = parse(command, argv)
        _quiet_logging()
        if command.tensorflow:
            start_tensorflow()
        registry.load(command.run)(options)
    except UserError as e:
        if traceback:
            raise
        _exit(f'error: {e}', getattr(e, 'exit_status', 1))
    except KeyboardInterrupt:
        if traceback:
            raise
        _exit('error: interrupted', 130)


def parse(command, argv):
    """What `command.run` is called with, from the command line `argv` (its first
    item the program's name); UserError for any mistake in it."""
    flag_values = flags.FlagValues()
    command.define_flags(flag_values)
    flags.DEFINE_bool('traceback', False, 'On an error, also print the Python '
                      'traceback (for bug reports).', flag_values=flag_values)
    check_flagfiles(argv[1:])
    try:
        arguments = flag_values(argv)[1:]
    except flags.Error as e:
        raise UserError(f'{e} (see --helpfull)') from None
    if len(arguments) != command.positional:
        raise UserError(f'unexpected arguments: {" ".join(arguments)}'
                        if len(arguments) > command.positional else
                        f'expected {command.positional} argument(s) besides flags '
                        '(see --helpfull)')
    given = {name for name in flag_values if flag_values[name].present}
    return command.options(types.SimpleNamespace(
        **flag_values.flag_values_dict(), arguments=arguments, given=given))


def _exit(line, status):
    sys.stdout.flush()
    print(line, file=sys.stderr, flush=True)
    sys.exit(status)


def usage(command):
    """The command's docstring and the help of each of its flags."""
    flag_values = flags.FlagValues()
    command.define_flags(flag_values)
    return (f'{command.doc.strip()}\n\nflags:\n{flag_values.main_module_help()}\n'
            '  --flagfile: a file of flags, one --flag=value per line\n'
            '  --[no]traceback: on an error, also print the Python traceback')


def check_flagfiles(args, seen=()):
    """UserError naming the file and line of any line in a --flagfile that is not
    a flag (absl would take it for a stray argument)."""
    for arg in args:
        if not arg.startswith('--flagfile='):
            continue
        path = arg.split('=', 1)[1]
        if path in seen:
            continue
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise UserError(f'--flagfile={path}: {e.strerror}') from None
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if text and not text.startswith(('#', '//', '-')):
                raise UserError(f'{path}, line {number}: {text!r} is not a flag; write '
                                f'it --{text.lstrip("-")}')
        check_flagfiles([line.strip() for line in lines], (*seen, path))


def _one_line_warnings():
    """gan_tf's own warnings as one `warning: ...` line each, like its errors
    (Python's format adds the file, the line and its source text)."""
    package = os.path.dirname(os.path.abspath(__file__))
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if os.path.abspath(filename).startswith(package + os.sep):
            print(f'warning: {message}', file=file or sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)
    warnings.showwarning = show


def _quiet_logging():
    """tfds's and SavedModel's INFO lines would hide ours: warnings and up only."""
    logging.set_verbosity(logging.WARNING)


# Lines TensorFlow's C++ side prints at start-up before its own log filter
# (TF_CPP_MIN_LOG_LEVEL) applies, and that say nothing about the run: absl's
# notice, oneDNN's, and CUDA's probing on a machine without an NVIDIA driver.
STARTUP_NOISE = ('All log messages before absl::InitializeLog',
                 'oneDNN custom operations are on')
NO_GPU_NOISE = ('Could not find cuda drivers', 'failed call to cuInit',
                'cuda_platform.cc', 'cudart_stub.cc')


def start_tensorflow():
    """Imports TensorFlow and finds its devices with stderr captured, then
    replays what it printed there but its start-up noise (`STARTUP_NOISE`, and
    `NO_GPU_NOISE` where this machine has no NVIDIA driver)."""
    if 'tensorflow' in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf  # the heavy import this module exists to defer
            tf.config.list_physical_devices('GPU')
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            printed = capture.read().decode(errors='replace').splitlines()
    noise = STARTUP_NOISE + (() if os.path.exists('/proc/driver/nvidia') else NO_GPU_NOISE)
    for line in printed:
        if not any(text in line for text in noise):
            print(line, file=sys.stderr)


# ---------------------------------------------------------- Config as flags

class _OptionalParser(flags.ArgumentParser):
    """`base`'s values, and 'none' (or nothing) for None."""

    def __init__(self, base):
        self.base = base

    def parse(self, argument):
        if argument is None or (isinstance(argument, str) and
                                argument.strip().lower() in ('', 'none')):
            return None
        return self.base.parse(argument)

    def flag_type(self):
        return self.base.flag_type()


def define_config_flags(flag_values=flags.FLAGS):
    """One flag per `Config` field, with its default and help; the values are
    checked by `Config` itself (`config_from_flags`)."""
    for name, field in config.FIELDS.items():
        kind, optional = config.value_type(field)
        default = field.metadata['default']
        help_text = field.metadata['help']
        choices = config.choices(field)
        if choices and kind is not tuple:
            help_text += f' One of: {", ".join(map(str, choices))}.'
        special = {arch: entry.defaults[name] for arch, entry in
                   sorted(registry.ARCHITECTURES.items()) if name in entry.defaults}
        if special:
            help_text += ' Default for ' + '; '.join(
                f'--arch={arch}: {config.flag_text(value)}' for arch, value in special.items())
        if kind is tuple:
            flags.DEFINE_list(name, list(default), help_text, flag_values=flag_values)
        elif kind is bool:
            flags.DEFINE_bool(name, default, help_text, flag_values=flag_values)
        elif kind in (int, float):
            parser = flags.IntegerParser() if kind is int else flags.FloatParser()
            if optional:
                parser, help_text = _OptionalParser(parser), help_text + ' (none: unset)'
            flags.DEFINE(parser, name, default, help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def config_from_flags(values):
    """The `Config` of the flags given (`values`, from `parse`: an attribute per
    flag, and `given`, the names of those on the command line or in a flagfile);
    the others take the architecture's defaults. UserError naming a bad one, or
    the extra to install for an --export_formats entry (known before training)."""
    options = {}
    for name, field in config.FIELDS.items():
        if name not in values.given:
            continue
        value = getattr(values, name)
        if config.value_type(field)[0] is tuple and config.item_type(field) is int:
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                raise UserError(f'--{name}={",".join(value)}: expected comma-separated '
                                'integers, e.g. 256,512,1024') from None
        options[name] = value
    made = Config(**options)
    if made.export:
        config.check_export_extras(made.export_formats)
    return made
