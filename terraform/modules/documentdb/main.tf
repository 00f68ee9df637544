resource "aws_docdb_subnet_group" "this" {
  name        = var.name
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = var.tags
}

resource "aws_docdb_cluster_parameter_group" "this" {
  name        = var.name
  family      = "docdb5.0"
  description = "TLS required and audit logs on for ${var.name}"

  parameter {
    name  = "tls"
    value = "enabled"
  }

  parameter {
    name  = "audit_logs"
    value = "enabled"
  }

  tags = var.tags
}

# When this cluster was created: its final snapshot is named after it, so a cluster built
# again under the same name does not collide with the snapshot of the one before.
resource "terraform_data" "created" {
  input            = plantimestamp()
  triggers_replace = [var.name]

  lifecycle {
    ignore_changes = [input]
  }
}

# DocumentDB would create these on first export, unencrypted and kept forever: Terraform
# makes them first, encrypted, audit logs kept a year.
resource "aws_cloudwatch_log_group" "exports" {
  for_each = { audit = var.audit_log_retention_days, profiler = var.log_retention_days }

  name              = "/aws/docdb/${var.name}/${each.key}"
  retention_in_days = each.value
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_docdb_cluster" "this" {
  cluster_identifier              = var.name
  engine                          = "docdb"
  engine_version                  = var.engine_version
  master_username                 = var.master_username
  manage_master_user_password     = true
  db_subnet_group_name            = aws_docdb_subnet_group.this.name
  db_cluster_parameter_group_name = aws_docdb_cluster_parameter_group.this.name
  vpc_security_group_ids          = var.security_group_ids
  storage_encrypted               = true
  kms_key_id                      = var.kms_key_arn
  backup_retention_period         = var.backup_retention_days
  preferred_backup_window         = "02:00-03:00"
  preferred_maintenance_window    = "sun:05:00-sun:06:00"
  enabled_cloudwatch_logs_exports = ["audit", "profiler"]
  deletion_protection             = var.deletion_protection
  skip_final_snapshot             = var.skip_final_snapshot
  final_snapshot_identifier       = var.skip_final_snapshot ? null : "${var.name}-final-${formatdate("YYYYMMDDhhmm", terraform_data.created.output)}"

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.exports]
}

resource "aws_docdb_cluster_instance" "this" {
  count = var.instance_count

  identifier                 = "${var.name}-${count.index + 1}"
  cluster_identifier         = aws_docdb_cluster.this.id
  instance_class             = var.instance_class
  auto_minor_version_upgrade = true

  tags = var.tags
}
