"""The code MLflow runs to build the served model ("models from code": no pickled objects).

MLflow copies this file into every logged model and executes it on load; the model reads its
classes and payload columns from the ``bundle.json`` artifact.
"""

from mlflow.models import set_model

from gristmill.tracking._pyfunc import GristmillPyfunc

set_model(GristmillPyfunc())
