"""The learning benchmark under a frozen protocol: ``python -m seizure_lightning.benchmark``.

``run`` runs one setting of the protocol (``experiments/protocol.yaml``) on one seed (a report
seed only from the frozen recipe, once; any other seed as a development run), ``results`` writes
``docs/results.md`` from the stored report results, ``show`` prints the protocol and its hash.
"""
