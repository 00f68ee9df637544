locals {
  multi_az = var.num_nodes > 1
  # "<name>-a" and "<name>-d": within ElastiCache's 40 characters (var.name is at most 38).
  id_prefix = var.name
}

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

# The app's Redis password never reaches the state or the plan. The secret is its one
# source: a new password_version writes a fresh random password to the secret (a
# write-only argument), and the RBAC user always takes its password from the secret as
# it is, read as an ephemeral value. Replacing the user alone, or finishing a partial
# apply, therefore gives it the password the tasks read.
ephemeral "random_password" "app" {
  length           = 48
  special          = true
  override_special = "!&#$^<>-"
}

resource "aws_secretsmanager_secret" "auth_token" {
  #checkov:skip=CKV2_AWS_57:Rotating the Redis password is a new password_version plus a task restart, done by a person; no rotation Lambda.
  name                    = var.auth_token_secret_name
  description             = "Password of the Redis user ${var.username} of ${var.name}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "auth_token" {
  secret_id                = aws_secretsmanager_secret.auth_token.id
  secret_string_wo         = ephemeral.random_password.app.result
  secret_string_wo_version = var.password_version
}

# Known only once the version above exists: the user is written after the secret.
ephemeral "aws_secretsmanager_secret_version" "auth_token" {
  secret_id  = aws_secretsmanager_secret_version.auth_token.secret_id
  version_id = aws_secretsmanager_secret_version.auth_token.version_id
}

# RBAC needs a user named "default" in the group: it is switched off.
# User ids are at most 40 characters, like the replication group id (var.name).
resource "aws_elasticache_user" "default" {
  user_id              = "${local.id_prefix}-d"
  user_name            = "default"
  engine               = "redis"
  access_string        = "off -@all"
  no_password_required = true

  tags = var.tags
}

resource "aws_elasticache_user" "app" {
  user_id   = "${local.id_prefix}-a"
  user_name = var.username
  engine    = "redis"
  # &*: Redis 7 gives a new ACL user no Pub/Sub channel, and the app publishes and
  # subscribes. -@dangerous also takes INFO, which the client's ready check sends.
  access_string        = "on ~* &* +@all -@dangerous +info"
  passwords_wo         = ephemeral.aws_secretsmanager_secret_version.auth_token.secret_string
  passwords_wo_version = var.password_version

  tags = var.tags
}

resource "aws_elasticache_user_group" "this" {
  user_group_id = var.name
  engine        = "redis"
  user_ids      = [aws_elasticache_user.default.user_id, aws_elasticache_user.app.user_id]

  tags = var.tags
}

# The engine's slow log and engine log, delivered to CloudWatch Logs in groups this stack
# owns (encrypted, with the environment's retention) rather than ones made on first write.
resource "aws_cloudwatch_log_group" "this" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "/aws/elasticache/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV_AWS_31:Clients authenticate as an RBAC user (user_group_ids) with a write-only password, not with auth_token, so no password is in the state.
  replication_group_id = var.name
  description          = "Redis of ${var.name}"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_clusters   = var.num_nodes
  port                 = var.port
  parameter_group_name = "default.redis7"

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = var.security_group_ids

  multi_az_enabled           = local.multi_az
  automatic_failover_enabled = local.multi_az

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  user_group_ids             = [aws_elasticache_user_group.this.user_group_id]

  dynamic "log_delivery_configuration" {
    for_each = aws_cloudwatch_log_group.this
    content {
      destination      = log_delivery_configuration.value.name
      destination_type = "cloudwatch-logs"
      log_format       = "json"
      log_type         = log_delivery_configuration.key
    }
  }

  snapshot_retention_limit   = var.snapshot_retention_days
  snapshot_window            = var.snapshot_window
  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = var.apply_immediately

  tags = var.tags
}
