"""The claim service: what happens to a claim, whoever asks (the routes call it and stay thin).

    states.py       the state machine: statuses, the transition table, who may make each transition and
                    the audit event it writes; every status change goes through it
    intake.py       opening a claim (idempotently); adding, replacing and withdrawing its photos
    assessment.py   the models quote the photos; the claim is settled, sent to an adjuster or asked for retakes
    diagram.py      the README's state diagram, generated from the transition table (``make claim-states``)
"""
