output "alb_security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "tasks_security_group_id" {
  description = "Security group of the ECS tasks."
  value       = aws_security_group.tasks.id
}

output "redis_security_group_id" {
  description = "Security group of the Redis replication group."
  value       = aws_security_group.redis.id
}

output "documentdb_security_group_id" {
  description = "Security group of the DocumentDB cluster, or null when there is none."
  value       = one(aws_security_group.documentdb[*].id)
}
