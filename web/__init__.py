"""The HTTP service (`opsledger serve`): a door like the CLI, over the same services.

FastAPI on uvicorn: the JSON API's OpenAPI schema is generated from the same
pydantic models that shape its answers. Nothing here holds a use case; every
route calls a function of `opsledger.services`, as a CLI command does.
"""
