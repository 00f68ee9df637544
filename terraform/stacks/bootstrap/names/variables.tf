variable "config_path" {
  description = "Path of the project's cosydeploy.yaml: the one source of the names below."
  type        = string
}

variable "policies_dir" {
  description = "Directory of the policy document templates (terraform/policies)."
  type        = string
}

variable "account_id" {
  description = "The AWS account the names are for."
  type        = string
}

variable "partition" {
  description = "AWS partition (aws, aws-cn, aws-us-gov)."
  type        = string
  default     = "aws"
}

variable "environments" {
  description = "Environments whose clients live in this account (a release and an infra role each)."
  type        = list(string)
}

variable "clients" {
  description = "Client ids with stacks in this account (the release roles may move the cutover weights of their hostnames only; the rest names stacks by pattern)."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "`owner/name` of the repository whose workflows deploy."
  type        = string
}

variable "github_oidc_subject" {
  description = <<-EOT
    Subject format of the repository's OIDC tokens. `name`: repo:OWNER/REPO:... (repositories
    created before the immutable format). `immutable`: repo:OWNER@OWNER_ID/REPO@REPO_ID:...
    (new repositories, renamed ones, and those that opted in); give both numeric ids.
  EOT
  type = object({
    format        = optional(string, "name")
    owner_id      = optional(string)
    repository_id = optional(string)
  })
  default = {}

  validation {
    condition     = contains(["name", "immutable"], var.github_oidc_subject.format)
    error_message = "github_oidc_subject.format must be name or immutable."
  }

  validation {
    condition = var.github_oidc_subject.format == "name" || (
      can(regex("^[0-9]+$", var.github_oidc_subject.owner_id)) && can(regex("^[0-9]+$", var.github_oidc_subject.repository_id))
    )
    error_message = "The immutable subject format needs the numeric owner_id and repository_id (gh api repos/OWNER/REPO --jq '.owner.id, .id')."
  }
}

variable "kms_key_arn" {
  description = "ARN of the key that encrypts the state (the release roles may decrypt with it)."
  type        = string
}
