"""The SDK README's example, the handler and error handler verbatim but for the import, with
the module-level names it uses. As published, the handler reads its local `logger` before
assigning it (UnboundLocalError), so the registered error handler answers; `/fixed` is the
same handler with that and the undefined `input_digest` corrected."""

import logging
import os

import pydicom

from arterys_gateway import Gateway
from utils import tagged_logger

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s [%(input_hash)s] %(message)s")
logger = logging.getLogger("inference")


def handle_exception(e):
    logger.exception('internal server error %s', e)
    return 'internal server error', 500


def handler(json_input, dicom_instances, input_hash):
    logger = tagged_logger.TaggedLogger(logger)
    logger.add_tags({ 'input_hash': input_digest })
    logger.info('mock_model received json_input={}'.format(json_input))
    dcm = pydicom.read_file(dicom_instances[0])
    response_json = {
        'protocol_version': '1.0',
        'parts': [],
        'bounding_boxes_2d': [
            {
                'label': 'super bbox',
                'SOPInstanceUID': dcm.SOPInstanceUID,
                'top_left': [5, 5],
                'bottom_right': [10, 10]
            }
        ]
    }
    return response_json, []


def fixed(json_input, dicom_instances, input_hash):
    tagged = tagged_logger.TaggedLogger(logger)
    tagged.add_tags({ 'input_hash': input_hash })
    tagged.info('mock_model received json_input={}'.format(json_input))
    dcm = pydicom.dcmread(dicom_instances[0])
    response_json = {
        'protocol_version': '1.0',
        'parts': [],
        'bounding_boxes_2d': [
            {
                'label': 'super bbox',
                'SOPInstanceUID': dcm.SOPInstanceUID,
                'top_left': [5, 5],
                'bottom_right': [10, 10]
            }
        ]
    }
    return response_json, []


if __name__ == '__main__':
    app = Gateway(__name__)
    app.register_error_handler(Exception, handle_exception)
    app.add_inference_route('/', handler)
    app.add_inference_route('/fixed', fixed)
    app.run(host='127.0.0.1', port=int(os.environ.get('PORT', '0')), debug=True, use_reloader=True)
