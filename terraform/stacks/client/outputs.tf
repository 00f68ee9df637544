# The contract the release pipeline reads (cosydeploy/stack.py OUTPUT_NAMES); the
# sandbox stack declares exactly these outputs too.

output "cluster_name" {
  description = "ECS cluster of the client and environment."
  value       = module.ecs_service.cluster_name
}

output "service_name" {
  description = "ECS service cosydeploy updates."
  value       = module.ecs_service.service_name
}

output "container_name" {
  description = "Name of the app container in the task definition."
  value       = module.ecs_service.container_name
}

output "task_family" {
  description = "Task definition family cosydeploy registers revisions in."
  value       = module.ecs_service.task_family
}

output "execution_role_arn" {
  description = "Task execution role."
  value       = module.iam.execution_role_arn
}

output "task_role_arn" {
  description = "Task role."
  value       = module.iam.task_role_arn
}

output "log_group_name" {
  description = "Log group of the app container."
  value       = module.ecs_service.log_group_name
}

output "target_group_arn" {
  description = "ALB target group of the service."
  value       = module.alb.target_group_arn
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = module.alb.alb_dns_name
}

output "app_url" {
  description = "Public URL of the app."
  value       = local.app_url

  depends_on = [module.dns]
}

output "secret_arns" {
  description = "Secrets Manager ARNs by NAME (the app's secrets and REDIS_AUTH_TOKEN)."
  value       = local.secret_arns
}

output "parameter_names" {
  description = "SSM parameter names by KEY."
  value       = module.secrets.parameter_names
}

output "info_topic_arn" {
  description = "SNS topic of info notifications (releases, deployments, scaling)."
  value       = module.monitoring.topic_arns["info"]
}

output "redis_replication_group_id" {
  description = "Redis replication group, snapshotted before a release where configured."
  value       = module.redis.replication_group_id
}

output "alarm_names" {
  description = "Critical CloudWatch alarms of the client and environment (a release's bake rolls back on ALARM)."
  value       = module.monitoring.critical_alarm_names
}

# Blue/green, canary and linear releases: what ECS moves traffic with, and where the new
# revision answers before production traffic reaches it.

output "alternate_target_group_arn" {
  description = "The second target group (the new revision's tasks during a blue/green, canary or linear deployment)."
  value       = module.alb.alternate_target_group_arn
}

output "production_listener_rule_arn" {
  description = "HTTPS listener rule whose weights ECS moves to shift production traffic."
  value       = module.alb.production_listener_rule_arn
}

output "test_listener_rule_arn" {
  description = "Test listener rule whose weights ECS moves to shift test traffic."
  value       = module.alb.test_listener_rule_arn
}

output "test_url" {
  description = "Base URL of the test listener (`https://<hostname>:<test_listener_port>`), reachable only from release.test_listener_cidrs."
  value       = local.test_url

  depends_on = [module.dns]
}

output "ecs_infrastructure_role_arn" {
  description = "The role ECS assumes to move traffic between the target groups."
  value       = module.iam.ecs_infrastructure_role_arn
}
