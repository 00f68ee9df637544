output "resource_id" {
  description = "Scalable target id, `service/<cluster>/<service>`."
  value       = aws_appautoscaling_target.this.resource_id
}

output "policy_arns" {
  description = "ARNs of the target tracking policies by name (cpu, memory, requests)."
  value       = { for k, p in aws_appautoscaling_policy.this : k => p.arn }
}
