output "state_bucket" {
  description = "Bucket for the client stacks' state (backend `bucket`)."
  value       = aws_s3_bucket.state.id
}

output "ecr_repository_url" {
  description = "URL of the app's image repository (manifest `ecr_repository_url`)."
  value       = aws_ecr_repository.app.repository_url
}

output "lock_table_name" {
  description = "DynamoDB table of the deploy locks."
  value       = aws_dynamodb_table.locks.name
}

output "releases_table_name" {
  description = "DynamoDB table of the release ledger."
  value       = aws_dynamodb_table.releases.name
}

output "deploy_role_arn" {
  description = "Role GitHub Actions assumes through OIDC (`role-to-assume`)."
  value       = aws_iam_role.deploy.arn
}
