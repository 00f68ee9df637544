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

output "role_arns" {
  description = "Roles the workflows assume through OIDC, by key (build, release-ENV, infra-ENV)."
  value       = { for key, role in aws_iam_role.github : key => role.arn }
}

output "oidc_subjects" {
  description = "What each role trusts (the repository's OIDC subjects)."
  value       = { for key, role in local.roles : key => jsondecode(role.trust).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"] }
}
