"""A test double of TensorFlow Serving's REST predict API over tf.saved_model.load,
standard library only, to check that the export's signatures answer the requests
README.md and BUILD.md show (TF Serving itself is not installable here).

    POST /v1/models/NAME[/versions/N]:predict
    {"signature_name": "...", "instances": [row, ...]}   -> {"predictions": [...]}
    {"signature_name": "...", "inputs": {name: value}}   -> {"outputs": ...}

It follows TF Serving's rules (g3doc/api_rest.md, util/json_tensor.cc): the
signature defaults to serving_default; exactly one of "instances" and "inputs";
a row is the input's value, or an object holding every input when there are
several, and the rows are stacked along a new batch dimension (so scalars such as
`generate`'s num and seed need the columnar form); integer inputs take JSON
integers only; one output is answered without its name; errors are {"error":
message} with status 400 (bad request, failing assertion in the graph) or 404
(unknown model or version).
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

PREDICT = re.compile(r'/v1/models/([^/:]+)(?:/versions/(\d+))?:predict')


class RequestError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _tensor(value, spec):
    """`value` (nested JSON lists) as an array of `spec`'s dtype."""
    if spec.dtype.is_integer and any(not isinstance(v, int) or isinstance(v, bool)
                                     for v in np.asarray(value, object).ravel()):
        raise RequestError(400, f'JSON Value: {json.dumps(value)[:40]} is not of '
                                f'expected type: {spec.dtype.name}')
    try:
        return np.asarray(value, spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError) as e:
        raise RequestError(400, f'Encountered list at unexpected size ({e})') from None


def parse(request, specs):
    """(form, {input name: array}) of a predict `request` (its JSON, parsed);
    `specs`: the signature's {name: tf.TensorSpec}."""
    if ('instances' in request) == ('inputs' in request):
        raise RequestError(400, "expecting exactly one of 'inputs' or 'instances' keys")
    names = sorted(specs)
    if 'inputs' in request:
        columns = request['inputs']
        if not isinstance(columns, dict):
            columns = {names[0]: columns} if len(names) == 1 else None
        if columns is None or set(names) - set(columns):
            raise RequestError(400, f"Missing named input in 'inputs' object: expecting "
                                    f'{", ".join(names)}')
        return 'columns', {name: _tensor(columns[name], specs[name]) for name in names}
    rows = request['instances']
    if not isinstance(rows, list) or not rows:
        raise RequestError(400, "No values in 'instances' array")
    if len(names) > 1 and not all(isinstance(row, dict) for row in rows):
        raise RequestError(400, 'instances is a plain list, but expecting list of '
                                'objects as multiple input tensors required')
    rows = [row if isinstance(row, dict) else {names[0]: row} for row in rows]
    if any(set(row) != set(names) for row in rows):
        raise RequestError(400, f'keys must be equal to: {",".join(names)}')
    return 'rows', {name: _tensor([row[name] for row in rows], specs[name])
                    for name in names}


def predict(signatures, body):
    """The JSON answer to a predict request's `body`."""
    try:
        request = json.loads(body)
    except ValueError as e:
        raise RequestError(400, f'JSON Parse error: {e}') from None
    if not isinstance(request, dict):
        raise RequestError(400, 'the request is not a JSON object')
    name = request.get('signature_name', 'serving_default')
    if name not in signatures:
        raise RequestError(400, f'Serving signature name: "{name}" not found in '
                                'signature def')
    signature = signatures[name]
    specs = signature.structured_input_signature[1]
    form, arrays = parse(request, specs)
    for key, array in arrays.items():
        if not specs[key].shape.is_compatible_with(array.shape):
            raise RequestError(400, f'{key}: shape {list(array.shape)} does not fit '
                                    f'{specs[key].shape}')
    try:
        outputs = signature(**{key: tf.constant(a) for key, a in arrays.items()})
    except (tf.errors.InvalidArgumentError, tf.errors.FailedPreconditionError) as e:
        raise RequestError(400, e.message) from None
    outputs = {key: value.numpy().tolist() for key, value in outputs.items()}
    if form == 'columns':
        return {'outputs': next(iter(outputs.values())) if len(outputs) == 1 else outputs}
    if len(outputs) == 1:
        return {'predictions': next(iter(outputs.values()))}
    keys = sorted(outputs)
    return {'predictions': [dict(zip(keys, row)) for row in
                            zip(*(outputs[key] for key in keys))]}


def serve(export_dir, model='gan', version=1):
    """Serves the SavedModel `export_dir` as `model` from a thread; returns
    (server, base URL). Stop it with server.shutdown()."""
    signatures = tf.saved_model.load(str(export_dir)).signatures

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
            try:
                match = PREDICT.fullmatch(self.path)
                if not match:
                    raise RequestError(404, f'Malformed request: POST {self.path}')
                if match[1] != model or (match[2] and int(match[2]) != version):
                    raise RequestError(404, 'Servable not found for request: '
                                            f'{match[1]}')
                status, answer = 200, predict(signatures, body)
            except RequestError as e:
                status, answer = e.status, {'error': str(e)}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f'http://127.0.0.1:{server.server_address[1]}'
