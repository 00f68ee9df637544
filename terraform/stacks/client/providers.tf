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

# Route 53: the zone lookup, the certificate's validation records and the app's alias
# record. Without a DNS account (var.dns null) this is the client's account as above;
# with one, the role there, and no other account.
provider "aws" {
  alias               = "dns"
  region              = var.region
  allowed_account_ids = [var.dns == null ? var.account_id : var.dns.account_id]

  dynamic "assume_role" {
    for_each = var.dns == null ? (var.assume_role_arn == null ? [] : [var.assume_role_arn]) : [var.dns.role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "cosydeploy-${var.client}-${var.environment}-dns"
    }
  }
}
