"""Benchmarks of django_slack_store's installation store: `make bench`, or `python -m benchmarks --help`."""
