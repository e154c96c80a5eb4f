"""The parts of `django_slack_store.stores.DjangoInstallationStore`, one concern each.

base.py: scope (client id, database, lookup keys) and what a write does once committed; finds.py: the hot
path; saves.py; deletes.py; lifecycle.py: Slack's uninstall and revocation events, and history pruning. Use
the class from `django_slack_store.stores`: these modules are not public API.
"""
