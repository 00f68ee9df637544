terraform {
  required_version = ">= 1.11"

  # aws 6.47 is the first release with aws_elasticache_user.passwords_wo; random 3.7.1
  # the first with the ephemeral random_password. Write-only arguments need Terraform 1.11.
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.47, < 7"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.1, < 4"
    }
  }

  # Configured by cosydeploy per workspace: -backend-config=backend.hcl (bucket, key, region, use_lockfile).
  backend "s3" {}
}
