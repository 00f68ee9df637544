provider "aws" {
  region = var.region
  # Refuse to touch any account but the manifest's, whatever credentials are active.
  allowed_account_ids = [var.account_id]

  dynamic "assume_role" {
    for_each = var.assume_role_arn == null ? [] : [var.assume_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "cosydeploy-${var.client}-${var.environment}"
    }
  }

  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      Client      = var.client
      Environment = var.environment
      ManagedBy   = "cosydeploy"
    })
  }
}
