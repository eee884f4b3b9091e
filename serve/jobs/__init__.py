"""Offline jobs on the service's database and photo store, run from the ``autoquote`` command.

    export.py    reviewed claims out as training data (``autoquote export-reviewed``)
    orphans.py   photos in the store no claim references (``autoquote collect-orphans``)
    rescore.py   the claims backlog quoted again by a candidate on Ray, as shadow quotes (``autoquote rescore``)
"""
