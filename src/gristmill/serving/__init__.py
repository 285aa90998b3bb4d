"""Serving a registered model over HTTP: the FastAPI app, its uvicorn runner and request log.

``import gristmill.serving`` is cheap; FastAPI, uvicorn and MLflow load when an app is built.
"""

from gristmill.serving._app import create_app, default_log_path
from gristmill.serving._batcher import PredictionBatcher
from gristmill.serving._holder import ModelHolder
from gristmill.serving._log import RequestLog
from gristmill.serving._model import ServedModel, load_served_model, parse_model_uri
from gristmill.serving._runner import serve

__all__ = [
    "ModelHolder",
    "PredictionBatcher",
    "RequestLog",
    "ServedModel",
    "create_app",
    "default_log_path",
    "load_served_model",
    "parse_model_uri",
    "serve",
]
