"""The HTTP side of the service: what turns requests into calls and results or errors into responses.

    asgi.py              the base of the service's own ASGI middlewares
    limits.py            the per-request byte limit and the NUL guard, before a body is parsed
    access.py            who may call a route (declared per router), checked from the headers alone
    status.py            the one table of HTTP statuses by error class, and the codes each status carries
    error_responses.py   the error body every refusal uses, and the OpenAPI ``responses`` routers declare
    error_handlers.py    the exception handlers and the last catch for unexpected errors
    metrics.py           the Prometheus collectors and the latency middleware
    locale.py            the customer's language, and the sentences rendered in it
    outcome.py           what a customer is told: the quote they may see, what happens next, the plain reasons
    schemas.py           the API's request and response schemas, and their conversion from rows
"""
