# Exactly the client stack's outputs (cosydeploy/stack.py OUTPUT_NAMES).

output "cluster_name" {
  description = "ECS cluster of the client and environment."
  value       = terraform_data.stack.output.cluster_name
}

output "service_name" {
  description = "ECS service cosydeploy updates."
  value       = terraform_data.stack.output.service_name
}

output "container_name" {
  description = "Name of the app container in the task definition."
  value       = terraform_data.stack.output.container_name
}

output "task_family" {
  description = "Task definition family cosydeploy registers revisions in."
  value       = terraform_data.stack.output.task_family
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = terraform_data.stack.output.execution_role_arn
}

output "task_role_arn" {
  description = "Task role."
  value       = terraform_data.stack.output.task_role_arn
}

output "log_group_name" {
  description = "Log group of the app container."
  value       = terraform_data.stack.output.log_group_name
}

output "target_group_arn" {
  description = "Stand-in target group ARN."
  value       = terraform_data.stack.output.target_group_arn
}

output "alb_dns_name" {
  description = "Empty: the sandbox has no ALB DNS name."
  value       = terraform_data.stack.output.alb_dns_name
}

output "app_url" {
  description = "URL of the app behind the sandbox's stand-in load balancer, or empty."
  value       = terraform_data.stack.output.app_url
}

output "secret_arns" {
  description = "Partial Secrets Manager ARNs by NAME."
  value       = terraform_data.stack.output.secret_arns
}

output "parameter_names" {
  description = "SSM parameter names by KEY."
  value       = terraform_data.stack.output.parameter_names
}

output "info_topic_arn" {
  description = "SNS topic of info notifications (the sandbox makes it)."
  value       = terraform_data.stack.output.info_topic_arn
}

output "redis_replication_group_id" {
  description = "Redis replication group id (the sandbox makes it where snapshots are configured)."
  value       = terraform_data.stack.output.redis_replication_group_id
}

output "alarm_names" {
  description = "Critical alarm names, as the client stack's monitoring module makes them."
  value       = terraform_data.stack.output.alarm_names
}

output "alternate_target_group_arn" {
  description = "Second target group: where a blue/green, canary or linear deployment starts the new revision."
  value       = terraform_data.stack.output.alternate_target_group_arn
}

output "production_listener_rule_arn" {
  description = "Production listener's rule, forwarding to both target groups by weight."
  value       = terraform_data.stack.output.production_listener_rule_arn
}

output "test_listener_rule_arn" {
  description = "Test listener's rule: where a new revision is verified before production traffic."
  value       = terraform_data.stack.output.test_listener_rule_arn
}

output "test_url" {
  description = "URL of the app through the stand-in load balancer's test listener, or empty."
  value       = terraform_data.stack.output.test_url
}

output "ecs_infrastructure_role_arn" {
  description = "Role ECS moves traffic between the target groups with."
  value       = terraform_data.stack.output.ecs_infrastructure_role_arn
}
