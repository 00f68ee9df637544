output "execution_role_arn" {
  description = "ARN of the task execution role."
  value       = aws_iam_role.execution.arn
}

output "task_role_arn" {
  description = "ARN of the task role."
  value       = aws_iam_role.task.arn
}

output "ecs_infrastructure_role_arn" {
  description = "ARN of the ECS infrastructure role for load balancers (the service's advanced load balancer configuration); usable once its policy is attached."
  value       = aws_iam_role.ecs_infrastructure.arn

  # ECS checks the role when the service is created or updated: hand it out with its policy.
  depends_on = [aws_iam_role_policy_attachment.ecs_infrastructure]
}
