"""Adapters: the only code that talks to AWS, Docker, Terraform, git and the sandbox."""
