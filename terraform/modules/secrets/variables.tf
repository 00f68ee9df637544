variable "prefix" {
  description = "Common prefix, `<project>/<client>/<environment>`: secrets are `<prefix>/<NAME>`, parameters `/<prefix>/<KEY>`."
  type        = string
}

variable "secret_names" {
  description = "Names of the app's secrets (DISCORD_BOT_TOKEN, ...). Only the secrets are created; values are put by `cosydeploy secrets set`, never through Terraform."
  type        = set(string)
}

variable "parameters" {
  description = "Plain configuration for SSM Parameter Store, KEY => value (WEB_PORT, MONGO_DB_NAME, NODE_ENV, FEATURE_*, PUBLIC_URL ...)."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secrets."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be restored."
  type        = number
  default     = 7
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
