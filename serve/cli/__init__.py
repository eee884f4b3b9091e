"""``autoquote``, the service's command, split by who runs what:

    main.py        the command line and the dispatch; every failure is one line on stderr
    operators.py   running the service: serve, migrate, keys
    models.py      the models: quote photos in-process, promote models from the model store
    jobs.py        offline jobs: export-reviewed, collect-orphans, rescore
    database.py    the configured database, migrated, for one command

``python -m serve.cli`` runs it too (``__main__.py``).
"""
