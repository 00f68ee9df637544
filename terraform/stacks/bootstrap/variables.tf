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

variable "github_environments" {
  description = "GitHub environments whose jobs may take the deploy role."
  type        = list(string)
  default     = ["dev", "staging", "prod"]
}

variable "client_account_ids" {
  description = "Client accounts whose ECS tasks may pull images from the repository."
  type        = list(string)
  default     = []
}

variable "client_role_arns" {
  description = "Roles in client accounts the deploy role may assume (the manifests' aws.role_arn)."
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
