"""The generator as a LiteRT (TensorFlow Lite) model, for phones and small
devices: <export>/litert/generator.tflite (float32) and, as export format
litert_fp16, generator_fp16.tflite (float16 weights: half the size, computing in
float32 all the same).

Converted by TensorFlow's converter from the float32 z -> images function
(`servable.Servable.images_function`) with builtin ops only, so that a generator
needing TensorFlow ops fails here, with their names, rather than on the phone.
The batch size is dynamic: transposed convolutions then run outside XNNPACK, but
give the same images at any batch. Run with ai-edge-litert's interpreter.
"""
import os
import re

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python.convert_phase import ConverterError

from gan_tf import artifacts
from gan_tf.errors import UserError, first_line
from gan_tf.exports import servable as servables


def write(servable, path):
    """Writes the float32 .tflite of `servable` at `path`, and the folder's README."""
    _write(servable, path, float16=False)


def write_float16(servable, path):
    """Writes the .tflite of `servable` with float16 weights at `path`, and the
    folder's README."""
    _write(servable, path, float16=True)


def _write(servable, path, float16):
    model = convert(servable, float16)
    what = f'--export_formats={"litert_fp16" if float16 else "litert"}'
    servable.check(_images_function(Interpreter(model_content=model, num_threads=1)),
                   what)
    artifacts.write_file(path, model)
    artifacts.write_file(os.path.join(os.path.dirname(path), 'README.md'),
                         readme(servable))


def convert(servable, float16=False):
    """The .tflite bytes of `servable`'s z -> images function; UserError naming
    the operations LiteRT has no builtin for, if any."""
    function = servable.images_function()
    # The converter must be handed the tf.Variables themselves: given the Keras
    # model (whose variables wrap them), it converts without error a model whose
    # every output is NaN.
    holder = tf.Module()
    holder.generator_variables = [v.value for v in servable.converted.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except ConverterError as e:
        needed = re.search(r'TF Select ops: (.*)', str(e))
        raise UserError(
            'the generator cannot be converted to LiteRT with builtin ops' +
            (f': it needs TensorFlow ops {needed.group(1).strip()}' if needed else
             f' ({first_line(e)})') +
            '; export without litert, or build the generator from layers LiteRT '
            'has (gan_tf/exports/litert.py)') from None


def load(path, threads=None):
    """The .tflite at `path` in LiteRT's interpreter, as a function (z,
    labels=None) -> float32 images; `threads`: default, every CPU."""
    return _images_function(Interpreter(model_path=path,
                                        num_threads=threads or os.cpu_count()))


def _images_function(interpreter):
    runner = interpreter.get_signature_runner('serving_default')

    def images(z, labels=None):
        inputs = {'z': np.asarray(z, np.float32)}
        if labels is not None:
            inputs['labels'] = np.asarray(labels, np.int32)
        return runner(**inputs)['images']  # resized to the batch by the runner
    return images


def readme(servable):
    """litert/README.md."""
    labels = ', labels=labels' if servable.num_classes else ''
    return servables.readme(
        servable, 'The generator for LiteRT (TensorFlow Lite)',
        '`generator.tflite` (`--export_formats=litert`) holds float32 weights, '
        '`generator_fp16.tflite` (`litert_fp16`) float16 weights: half the size, '
        'computing in float32. Each is here if it was exported. Builtin ops only; '
        'signature `serving_default`:',
        ['', '# pip install ai-edge-litert (on Android: the LiteRT runtime, same names)',
         'from ai_edge_litert.interpreter import Interpreter', '',
         "runner = Interpreter(model_path='generator.tflite').get_signature_runner("
         "'serving_default')",
         f"images = runner(z=z{labels})['images']"])
