"""The job kernel every bulk job shares.

A job reads a CSV through a column :class:`~zoomops.jobs.csvreader.Schema` (one streaming reader:
encodings, quoting, line-exact rejections), gives every record one stated outcome, and writes the same
result files (:mod:`zoomops.jobs.results`: ``rows.csv``, ``retry.csv``, ``requests.jsonl`` on a dry run,
``summary.json``), with progress throttled by :class:`~zoomops.jobs.progress.Every` and checkpoints kept by
an adapter (``zoomops.aws.jobstore`` on AWS). Job records as the API shows them are in
:mod:`zoomops.jobs.records`.
"""
