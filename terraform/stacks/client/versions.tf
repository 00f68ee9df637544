terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # Configured by cosydeploy per workspace: -backend-config=backend.hcl (bucket, key, region, use_lockfile).
  backend "s3" {}
}
