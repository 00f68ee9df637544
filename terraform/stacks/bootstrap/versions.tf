terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.47, < 7"
    }
  }

  # First run: comment this out, apply with local state, then `terraform init -migrate-state`
  # with -backend-config pointing at the bucket this stack created.
  backend "s3" {}
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "cosydeploy"
    }
  }
}
