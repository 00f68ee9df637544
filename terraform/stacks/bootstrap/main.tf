data "aws_partition" "current" {}

# Every name and policy document comes from cosydeploy.yaml and terraform/policies, through
# the provider-free `names` module the CLI's tests and the sandbox run too.
module "names" {
  source = "./names"

  config_path         = coalesce(var.project_config, "${path.module}/../../../cosydeploy.yaml")
  policies_dir        = "${path.module}/../../policies"
  account_id          = var.account_id
  partition           = data.aws_partition.current.partition
  environments        = var.environments
  clients             = var.clients
  github_repository   = var.github_repository
  github_oidc_subject = var.github_oidc_subject
  kms_key_arn         = aws_kms_key.state.arn
}

locals {
  partition    = data.aws_partition.current.partition
  state_bucket = module.names.state_bucket
  github_oidc  = "token.actions.githubusercontent.com"
  # The build role exists only where the image is pushed (cosydeploy.yaml image.registry_account_id).
  is_registry = var.registry_account
  roles = {
    for key, role in module.names.roles : key => role
    if key != "build" || local.is_registry
  }
}

# --- Terraform state --------------------------------------------------------------

resource "aws_kms_key" "state" {
  #checkov:skip=CKV2_AWS_64:The default key policy (account root) is intended: access is granted through IAM to the deploy role.
  description             = "Terraform state of ${var.project}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access logging would need a second bucket per account; CloudTrail records state access.
  #checkov:skip=CKV_AWS_144:State of one account in one region; versioning covers mistakes.
  #checkov:skip=CKV2_AWS_62:Nothing consumes state bucket events.
  bucket = local.state_bucket

  lifecycle {
    prevent_destroy = true

    precondition {
      condition     = var.region == module.names.region && var.project == module.names.project
      error_message = "region and project must be cosydeploy.yaml's state.region and project (every account is bootstrapped in the region the CLI looks in)."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 90
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "state_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_tls_only.json
}

# --- The image repository -----------------------------------------------------------

resource "aws_ecr_repository" "app" {
  name                 = module.names.repository
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.state.arn
  }
}

resource "aws_ecr_lifecycle_policy" "app" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images after ${var.image_retention.untagged_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.image_retention.untagged_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.image_retention.tagged_count} tagged images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.image_retention.tagged_count
        }
        action = { type = "expire" }
      },
    ]
  })
}

data "aws_iam_policy_document" "ecr_pull" {
  count = length(var.client_account_ids) > 0 ? 1 : 0

  statement {
    sid = "ClientAccountsPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
    ]
    principals {
      type        = "AWS"
      identifiers = [for a in var.client_account_ids : "arn:${local.partition}:iam::${a}:root"]
    }
  }
}

resource "aws_ecr_repository_policy" "app" {
  count = length(var.client_account_ids) > 0 ? 1 : 0

  repository = aws_ecr_repository.app.name
  policy     = data.aws_iam_policy_document.ecr_pull[0].json
}

# --- Account-level tables (names in cosydeploy.yaml) -------------------------------------

resource "aws_dynamodb_table" "locks" {
  name                        = module.names.lock_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "lock_id"
  deletion_protection_enabled = true

  attribute {
    name = "lock_id"
    type = "S"
  }

  # A lock whose holder died expires by itself.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.state.arn
  }
}

resource "aws_dynamodb_table" "releases" {
  name                        = module.names.ledger_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "target"
  range_key                   = "release_id"
  deletion_protection_enabled = true

  attribute {
    name = "target"
    type = "S"
  }

  attribute {
    name = "release_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.state.arn
  }
}

# --- GitHub Actions OIDC and the roles the workflows assume ---------------------------------
#
# build          ECR push only; trusted by jobs of a v* tag (no environment), registry account only
# release-ENV    what release/promote/rollback/status/unlock call, PassRole on ENV's task roles only
# infra-ENV      terraform apply of the client stacks; broad, but never the roles above
# Each trusts exactly the OIDC subject of the jobs that assume it: a dev job cannot take a
# prod role even when dev and prod share an account.

# An account holds one provider per URL: where another tool already made GitHub's, pass
# its ARN (github_oidc_provider_arn) and the stack checks and uses it instead.
data "aws_iam_openid_connect_provider" "existing" {
  count = var.github_oidc_provider_arn == null ? 0 : 1

  arn = var.github_oidc_provider_arn

  lifecycle {
    postcondition {
      condition     = self.arn == module.names.oidc_provider_arn && contains(self.client_id_list, "sts.amazonaws.com")
      error_message = "github_oidc_provider_arn must be ${module.names.oidc_provider_arn} with the audience sts.amazonaws.com (add it to the provider's client IDs)."
    }
  }
}

moved {
  from = aws_iam_openid_connect_provider.github
  to   = aws_iam_openid_connect_provider.github[0]
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://${local.github_oidc}"
  client_id_list = ["sts.amazonaws.com"]

  lifecycle {
    postcondition {
      condition     = self.arn == module.names.oidc_provider_arn
      error_message = "The trust policies name ${module.names.oidc_provider_arn}."
    }
  }
}

resource "aws_iam_role" "github" {
  for_each = local.roles

  name                 = each.value.name
  description          = "GitHub Actions of ${var.github_repository}: cosydeploy ${each.key}"
  assume_role_policy   = each.value.trust
  max_session_duration = var.max_session_seconds

  depends_on = [aws_iam_openid_connect_provider.github]
}

resource "aws_iam_role_policy" "github" {
  for_each = local.roles

  name   = "cosydeploy-${each.key}"
  role   = aws_iam_role.github[each.key].id
  policy = each.value.policy
}
