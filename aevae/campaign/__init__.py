"""The campaign: the source report's future work, a second layer over the study (``campaign/dvc.yaml``).

``config`` reads and checks ``campaign/params.yaml``; ``run`` trains and evaluates one variant through
the study's loop and ``evaluate``, and scores the record attempt; ``report`` writes the results table,
figures and ``campaign/REPORT.md``; ``two_stage`` and ``vaegan`` are Dai & Wipf's second stage and Larsen et al.'s
VAE-GAN; ``protocol`` Dai & Wipf's FID inputs; ``paths`` its files. Its models are the study's (``aevae.models``,
the conditional VAE included).
"""
