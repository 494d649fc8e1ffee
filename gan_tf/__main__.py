"""`gan-tf COMMAND [--flags]` (or `python -m gan_tf COMMAND`): every command of
gan_tf under one name.

    gan-tf train --arch=mlp --dataset=mnist      python -m gan_tf.main ...
    gan-tf evaluate --export_dir=out/RUN/export  python -m gan_tf.evaluate ...
    gan-tf sample --export_dir=out/RUN/export    python -m gan_tf.sample ...
    gan-tf export --run_dir=out/RUN              python -m gan_tf.export ...
    gan-tf report out/RUN                        python -m gan_tf.report ...
    gan-tf bench --arch=mlp                      python -m gan_tf.bench ...

`gan-tf COMMAND --helpfull` lists a command's flags.
"""
import sys

from gan_tf import bench, cli, evaluate, export, main as train, report, sample

COMMANDS = {command.name: command for command in (
    train.COMMAND, evaluate.COMMAND, sample.COMMAND, export.COMMAND, report.COMMAND,
    bench.COMMAND)}


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    name = argv[1] if len(argv) > 1 else None
    if name in COMMANDS:
        cli.main(COMMANDS[name], [f'{argv[0]} {name}', *argv[2:]])
    elif name in ('-h', '--help', '--helpfull'):
        print(__doc__.strip())
    else:
        print(f'error: {"no command" if name is None else f"unknown command {name!r}"}; '
              f'choose one of {", ".join(COMMANDS)} (gan-tf --help)', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
