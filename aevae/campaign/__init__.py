"""The campaign: the source report's future work, a second layer over the study (``campaign/dvc.yaml``).

``config`` reads and checks ``campaign/params.yaml``; ``run`` trains and evaluates one variant through
the study's loop and ``evaluate``, and scores the record attempt; ``report`` writes the results table,
figures and ``campaign/REPORT.md``; ``conditional`` is the class-conditioned VAE; ``paths`` its files.
"""
