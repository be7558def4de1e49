"""The Azure Functions app: created here, with its functions registered from the lifecycle blueprint."""

import azure.functions as func

from lifecycle.triggers import bp

app = func.FunctionApp()
app.register_functions(bp)
