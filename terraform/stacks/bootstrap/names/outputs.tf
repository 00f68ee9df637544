output "project" {
  description = "Project name (cosydeploy.yaml `project`)."
  value       = local.project
}

output "region" {
  description = "The account's bootstrap region: state bucket, lock and ledger tables, ECR repository."
  value       = local.region
}

output "state_bucket" {
  description = "The account's state bucket."
  value       = local.state_bucket
}

output "lock_table" {
  description = "Table of the deploy locks."
  value       = local.lock_table
}

output "ledger_table" {
  description = "Table of the release ledger."
  value       = local.ledger_table
}

output "repository" {
  description = "The app's ECR repository name."
  value       = local.repository
}

output "oidc_provider_arn" {
  description = "ARN of the account's GitHub OIDC provider."
  value       = local.oidc_provider_arn
}

output "roles" {
  description = "Every role by key (build, release-ENV, infra-ENV): name, trust and permission policy documents (JSON)."
  value = merge(
    {
      build = {
        name   = local.build_role
        trust  = templatefile("${var.policies_dir}/trust-github.json.tftpl", { oidc_provider_arn = local.oidc_provider_arn, subjects = local.build_subjects })
        policy = templatefile("${var.policies_dir}/build.json.tftpl", { ecr_repository_arn = local.ecr_repository_arn })
      }
    },
    { for e in var.environments : "release-${e}" => {
      name   = local.release_roles[e]
      trust  = templatefile("${var.policies_dir}/trust-github.json.tftpl", { oidc_provider_arn = local.oidc_provider_arn, subjects = local.env_subjects[e] })
      policy = templatefile("${var.policies_dir}/release.json.tftpl", local.release_vars[e])
    } },
    { for e in var.environments : "infra-${e}" => {
      name   = local.infra_roles[e]
      trust  = templatefile("${var.policies_dir}/trust-github.json.tftpl", { oidc_provider_arn = local.oidc_provider_arn, subjects = local.env_subjects[e] })
      policy = templatefile("${var.policies_dir}/infra.json.tftpl", local.infra_vars)
    } },
  )
}
