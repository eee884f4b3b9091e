"""autoquote's HTTP service: intake, assessment, records and keys, on top of :mod:`model`.

Each part imports only the parts listed after it (``tests/test_architecture.py`` checks it, and that no
modules import each other in a cycle):

    app.py        create_app(settings): the application, its resources made in the lifespan
    cli/          the ``autoquote`` command, split by who runs what
    routes/       the routers, one module per resource; thin, they call the parts below
    deps.py       typed dependencies: what the lifespan put on app.state, the caller, the claim service's parts
    claims/       the claim service: the state table, intake, assessment
    jobs/         offline jobs: export of reviewed claims, orphan photos, backlog re-scoring
    http/         HTTP plumbing: middleware, access per router, error statuses and bodies, metrics, locale,
                  the API's schemas
    models/       which models run: the pipeline in service, promotion, polling, shadow mode
    db/           rows, sessions and migrations; one module per record (claims, quotes, keys, review, audit)
    photos/       photo stores (local, S3), decoding, reading uploads
    settings.py   the settings, from AUTOQUOTE_* environment variables
    errors.py     the service's exception classes and their stable codes (their statuses: http/status.py)
"""
