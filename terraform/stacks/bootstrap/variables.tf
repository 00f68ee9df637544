variable "project" {
  description = "Project name (`cosyworld`)."
  type        = string
  default     = "cosyworld"
}

variable "region" {
  description = "Region of the shared resources."
  type        = string
}

variable "account_id" {
  description = "The account this stack is applied in; the provider refuses any other."
  type        = string
}

variable "github_repository" {
  description = "`owner/name` of the repository whose workflows may deploy."
  type        = string
}

variable "project_config" {
  description = "Path of cosydeploy.yaml (default: the repository root's), the one source of names."
  type        = string
  default     = null
}

variable "environments" {
  description = "Environments whose clients live in this account: a release and an infra role each."
  type        = list(string)
  default     = ["dev", "staging", "prod"]
}

variable "clients" {
  description = "Client ids with stacks in this account: the release roles may move the cutover weights of their hostnames (every other permission names the stacks by the pattern <project>-*-<env>)."
  type        = list(string)
  default     = []
}

variable "registry_account" {
  description = "Whether this is the account of cosydeploy.yaml's image.registry_account_id (gets the build role)."
  type        = bool
  default     = false
}

variable "github_oidc_subject" {
  description = <<-EOT
    Subject format of the repository's OIDC tokens. `name` (repo:OWNER/REPO:...) for repositories
    created before the immutable format; `immutable` (repo:OWNER@OWNER_ID/REPO@REPO_ID:...) for new,
    renamed or opted-in ones, with both numeric ids (gh api repos/OWNER/REPO --jq '.owner.id, .id').
  EOT
  type = object({
    format        = optional(string, "name")
    owner_id      = optional(string)
    repository_id = optional(string)
  })
  default = {}
}

variable "max_session_seconds" {
  description = "Longest role session: at least the longest job that holds one (onboard: 110 minutes)."
  type        = number
  default     = 7200
}

variable "client_account_ids" {
  description = "Client accounts whose ECS tasks may pull images from the repository."
  type        = list(string)
  default     = []
}

variable "image_retention" {
  description = "Images kept per repository: tagged release images and untagged days."
  type = object({
    tagged_count  = optional(number, 100)
    untagged_days = optional(number, 14)
  })
  default = {}
}

variable "github_oidc_provider_arn" {
  description = "ARN of a GitHub Actions OIDC provider the account already has (one per URL per account); null creates it."
  type        = string
  default     = null

  validation {
    condition     = var.github_oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be arn:aws:iam::ACCOUNT:oidc-provider/token.actions.githubusercontent.com."
  }
}
