terraform {
  required_version = ">= 1.11"

  # No provider: this stack must init and apply with no network. The S3 backend is
  # built into Terraform and points at the sandbox's local AWS endpoint.
  backend "s3" {}
}
