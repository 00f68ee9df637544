# Secret containers only: no aws_secretsmanager_secret_version here, so no value
# ever passes through Terraform or its state.
resource "aws_secretsmanager_secret" "this" {
  for_each = var.secret_names

  #checkov:skip=CKV2_AWS_57:Third-party API keys (Discord, OpenRouter, Google AI) cannot be rotated by a Lambda; cosydeploy secrets rotates them by hand.
  name                    = "${var.prefix}/${each.key}"
  description             = "${each.key} of ${var.prefix}"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days

  tags = var.tags
}

resource "aws_ssm_parameter" "this" {
  for_each = var.parameters

  #checkov:skip=CKV2_AWS_34:These are non-secret settings (ports, names, flags, URLs); secrets live in Secrets Manager.
  name  = "/${var.prefix}/${each.key}"
  type  = "String"
  value = each.value
  tier  = "Standard"

  tags = var.tags
}
