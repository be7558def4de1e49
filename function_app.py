"""The Azure Functions app: created here, with its functions registered from the lifecycle blueprint."""

import azure.functions as func

from lifecycle.triggers import bp
from lifecycle.worker import check_functions_library

# Indexing is part of every cold start: this only reads the already imported module.
check_functions_library(func)

app = func.FunctionApp()
app.register_functions(bp)
