"""The HTTP way in: the app factory (``app``), its dependencies, problem+json errors, the OpenAPI
document, the access log, request reading, the h11 guard uvicorn runs with, one router module
per resource (``routes/``) and the trainer's page (``static/``)."""
