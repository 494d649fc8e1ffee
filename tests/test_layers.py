"""The package's layout: imports point down the layers of ARCHITECTURE.md, never
in a circle, never from inside a function; the commands check their flags
before TensorFlow starts."""
import ast
import os
import subprocess
import sys

import pytest

from conftest import REPO

PACKAGE = os.path.join(REPO, 'gan_tf')

# ARCHITECTURE.md's layers, lowest first. A module may import modules of its own
# layer or below; within a layer, the imports must not form a circle.
LAYERS = [
    ['errors', 'registry', 'config', 'cli', '__init__'],
    ['artifacts', 'quality', 'health', 'report', 'latent', 'losses', 'augment',
     'distribute', 'optimizers', 'models', 'data', 'disturbances'],
    ['gan'],
    ['callbacks', 'runs'],
    ['sources', 'exports', 'judge'],
    ['train', 'speed'],
    ['main', 'evaluate', 'sample', 'export', 'bench', '__main__'],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
# The commands, which must not start TensorFlow before their flags are checked.
COMMANDS = LAYERS[-1]


def modules():
    """{dotted name below gan_tf: path} of every module of the package."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, '.')
                found[relative.removesuffix('.__init__')] = path
    return found


MODULES = modules()


def top(module):
    """The layer entry a module belongs to: 'models' for 'models.mlp'."""
    return module.split('.')[0]


def imports(path):
    """(module-level gan_tf imports, imports made inside functions) of a file;
    the first as dotted names below gan_tf, the second as (name, line, text)."""
    source = open(path).read()
    tree = ast.parse(source)
    lines = source.splitlines()
    module_level, in_functions = set(), []

    def named(node):
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        # from gan_tf.models import conditional: the module gan_tf.models.conditional
        return [f'{node.module}.{alias.name}'
                if f'{node.module}.{alias.name}'.removeprefix('gan_tf.') in MODULES
                else node.module for alias in node.names]

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in named(child):
                    if inside:
                        in_functions.append((name, child.lineno, lines[child.lineno - 1]))
                    elif name.startswith('gan_tf.'):
                        module_level.add(name[len('gan_tf.'):])
            visit(child, inside or isinstance(child, (ast.FunctionDef,
                                                      ast.AsyncFunctionDef)))
    visit(tree, False)
    return module_level, in_functions


def test_every_module_has_a_layer():
    assert {top(m) for m in MODULES} == set(LAYER)


def test_imports_point_down_the_layers():
    upward = []
    for module, path in MODULES.items():
        for imported in imports(path)[0]:
            if LAYER[top(imported)] > LAYER[top(module)]:
                upward.append(f'{module} -> {imported}')
    assert not upward


def test_no_module_imports_inside_a_function_but_heavy_optional_packages():
    """Deferred imports hide the dependency graph; the only ones left are heavy
    third-party packages a function alone needs, each with a comment saying so."""
    found = []
    for module, path in MODULES.items():
        for name, line, text in imports(path)[1]:
            if name.startswith('gan_tf') or '#' not in text:
                found.append(f'{module}:{line}: {text.strip()}')
    assert not found


def test_the_imports_form_no_circle():
    graph = {m: imports(p)[0] for m, p in MODULES.items()}
    state, path = {}, []

    def visit(module):
        state[module] = 'open'
        path.append(module)
        for imported in graph.get(module, ()):
            if imported not in graph:
                continue
            if state.get(imported) == 'open':
                raise AssertionError(' -> '.join(path[path.index(imported):] + [imported]))
            if imported not in state:
                visit(imported)
        path.pop()
        state[module] = 'done'

    for module in graph:
        if module not in state:
            visit(module)


def test_registry_entries_name_real_implementations():
    from gan_tf import registry
    for name, architecture in registry.ARCHITECTURES.items():
        generator, discriminator = architecture.classes()
        assert callable(generator) and callable(discriminator), name
    for name, loss in registry.LOSSES.items():
        assert all(map(callable, loss.functions())), name
    for name, path in registry.AUGMENTATIONS.items():
        assert callable(registry.load(path)), name
    for name, export_format in registry.EXPORT_FORMATS.items():
        if not export_format.missing_extra():  # optional: gan_tf[litert], gan_tf[onnx]
            assert callable(registry.load(export_format.write)), name
            assert callable(registry.load(export_format.load)), name


def test_commands_check_their_flags_before_tensorflow_starts():
    """Each command module imports without TensorFlow, and a mistyped flag is
    reported by `cli.parse` with TensorFlow still not imported."""
    code = (
        'import sys\n'
        'from gan_tf import cli, ' + ', '.join(c for c in COMMANDS if c != '__main__') + '\n'
        'import gan_tf.__main__\n'
        'heavy = [m for m in ("tensorflow", "keras", "tensorflow_datasets") if m in sys.modules]\n'
        'assert not heavy, heavy\n'
        'for argv in (["x", "--arch=mpl"], ["x", "--lr_g=nan"], ["x", "--lrg=1"]):\n'
        '    try:\n'
        '        cli.parse(main.COMMAND, argv)\n'
        '    except cli.UserError as e:\n'
        '        print(e)\n'
        'assert "tensorflow" not in sys.modules\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[:2] == ['--arch=mpl: choose one of dcgan, maxout, mlp, sagan',
                         '--lr_g=nan: must be a finite number']
    assert lines[2].startswith("Unknown command line flag 'lrg'. Did you mean")


@pytest.mark.parametrize('command', ['train', 'evaluate', 'sample', 'export', 'report',
                                     'bench'])
def test_gan_tf_runs_each_command_as_its_module_does(command):
    """`gan-tf COMMAND --helpfull` shows the command's own usage."""
    from gan_tf import __main__ as gan_tf_main
    assert gan_tf_main.COMMANDS[command].name == command
    result = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'gan-tf'),
                             command, '--helpfull'], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    module = gan_tf_main.COMMANDS[command].doc.strip().splitlines()[0]
    assert result.stdout.startswith(module)
