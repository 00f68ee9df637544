output "replication_group_id" {
  description = "Id of the replication group."
  value       = aws_elasticache_replication_group.this.id
}

output "member_cluster_ids" {
  description = "Cache cluster ids of the members (`<id>-001`, `<id>-002`, ...), for CloudWatch."
  value       = [for i in range(var.num_nodes) : format("%s-%03d", var.name, i + 1)]
}

output "primary_endpoint" {
  description = "Host name of the primary endpoint (TLS)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}

output "username" {
  description = "Redis user the app connects as."
  value       = aws_elasticache_user.app.user_name
}

output "auth_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the app user's password."
  value       = aws_secretsmanager_secret.auth_token.arn
}
