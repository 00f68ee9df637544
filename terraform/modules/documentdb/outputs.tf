output "cluster_id" {
  description = "Identifier of the cluster."
  value       = aws_docdb_cluster.this.id
}

output "endpoint" {
  description = "Writer endpoint (TLS); build MONGO_URI from it and the master secret."
  value       = aws_docdb_cluster.this.endpoint
}

output "reader_endpoint" {
  description = "Reader endpoint."
  value       = aws_docdb_cluster.this.reader_endpoint
}

output "port" {
  description = "Port of the cluster."
  value       = aws_docdb_cluster.this.port
}

output "master_user_secret_arn" {
  description = "ARN of the secret DocumentDB manages for the master user."
  value       = one(aws_docdb_cluster.this.master_user_secret[*].secret_arn)
}
