"""cosydeploy: one isolated AWS stack per client, and releases that tell the truth."""

__version__ = "0.1.0"
