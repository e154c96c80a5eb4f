"""Django ORM home for Slack OAuth installations, bots and OAuth states."""

__version__ = "0.1.0"
