"""The generator as an ONNX model, for onnxruntime on any platform and in the
browser (onnxruntime-web): <export>/onnx/generator.onnx.

Converted by tf2onnx from the float32 z -> images function
(`servable.Servable.images_function`), then opened once with onnxruntime: tf2onnx
leaves an operation it cannot convert in the graph, and only a runtime finds it.
The batch dimension is named `batch`.
"""
import os

import numpy as np
import onnx
import onnxruntime
import tf2onnx

from gan_tf import artifacts
from gan_tf.errors import UserError, first_line
from gan_tf.exports import servable as servables

# Run by onnxruntime 1.14 and later, onnxruntime-web included; tf2onnx 1.17
# converts up to opset 18.
OPSET = 17


def write(servable, path):
    """Writes the .onnx of `servable` at `path`, and the folder's README."""
    model = convert(servable)
    try:
        session = onnxruntime.InferenceSession(model, providers=['CPUExecutionProvider'])
    except Exception as e:  # onnxruntime's errors share no base class but Exception
        raise UserError('the generator converted to ONNX does not load in '
                        f'onnxruntime ({first_line(e)}); export without onnx') from None
    servable.check(_images_function(session), '--export_formats=onnx')
    artifacts.write_file(path, model)
    artifacts.write_file(os.path.join(os.path.dirname(path), 'README.md'),
                         readme(servable))


def convert(servable):
    """The serialised ONNX model of `servable`'s z -> images function."""
    function = servable.images_function()
    model, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=OPSET)
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = 'batch'  # tf2onnx: 'unk__N'
    onnx.checker.check_model(model)
    return model.SerializeToString()


def load(path, threads=None):
    """The .onnx at `path` in onnxruntime, as a function (z, labels=None) ->
    float32 images; `threads`: default, every CPU."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count()
    return _images_function(onnxruntime.InferenceSession(
        path, options, providers=['CPUExecutionProvider']))


def _images_function(session):
    def images(z, labels=None):
        inputs = {'z': np.asarray(z, np.float32)}
        if labels is not None:
            inputs['labels'] = np.asarray(labels, np.int32)
        return session.run(['images'], inputs)[0]
    return images


def readme(servable):
    """onnx/README.md."""
    labels = ", 'labels': labels" if servable.num_classes else ''
    return servables.readme(
        servable, 'The generator for ONNX runtimes',
        f'`generator.onnx`, float32, opset {OPSET}; inputs and output named as '
        'below, the batch dimension `batch`. In a browser, onnxruntime-web takes the '
        "same names (`new ort.Tensor('float32', z, [16, "
        f"{servable.latent_dim}])`).",
        ['', '# pip install onnxruntime', 'import onnxruntime as ort', '',
         "session = ort.InferenceSession('generator.onnx')",
         f"images = session.run(['images'], {{'z': z{labels}}})[0]"])
