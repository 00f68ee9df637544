output "secret_arns" {
  description = "Secret ARNs by NAME."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "parameter_names" {
  description = "Parameter names by KEY."
  value       = { for k, p in aws_ssm_parameter.this : k => p.name }
}

output "parameter_arns" {
  description = "Parameter ARNs by KEY (for task definition `secrets` valueFrom)."
  value       = { for k, p in aws_ssm_parameter.this : k => p.arn }
}
