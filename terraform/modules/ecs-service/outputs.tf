output "desired_count" {
  description = "The service's desired count as last read: 0 until the first release starts it (Terraform ignores later changes)."
  value       = aws_ecs_service.this.desired_count
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.this.name
}

output "container_name" {
  description = "Name of the app container."
  value       = var.container_name
}

output "task_family" {
  description = "Family of the task definition."
  value       = aws_ecs_task_definition.this.family
}

output "task_definition_arn" {
  description = "ARN of the first task definition revision (later ones are cosydeploy's)."
  value       = aws_ecs_task_definition.this.arn
}

output "log_group_name" {
  description = "Log group of the app container."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_retention_days" {
  description = "Retention of the log group, in days."
  value       = aws_cloudwatch_log_group.this.retention_in_days
}
