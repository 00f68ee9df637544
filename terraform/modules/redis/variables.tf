variable "name" {
  description = "Replication group id, `<project>-<client>-<environment>`; user ids add two characters."
  type        = string

  validation {
    # ElastiCache ids: a letter first, letters, digits and single hyphens, no hyphen last,
    # at most 40 characters (38 here, for the users' "-a" and "-d").
    condition     = length(var.name) <= 38 && can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.name))
    error_message = "name must be at most 38 lowercase letters, digits and single hyphens, starting with a letter."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the cache nodes, one per AZ."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the cache nodes (6379 from the tasks only)."
  type        = list(string)
}

variable "node_type" {
  description = "Cache node type (cache.t4g.micro for dev, cache.r6g.large and up for production tiers)."
  type        = string
  default     = "cache.t4g.micro"
}

variable "num_nodes" {
  description = "Nodes in the replication group: one primary plus replicas. More than one turns on multi-AZ and automatic failover."
  type        = number
  default     = 1

  validation {
    condition     = var.num_nodes >= 1 && var.num_nodes <= 6
    error_message = "num_nodes must be between 1 and 6."
  }
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "port" {
  description = "Redis port."
  type        = number
  default     = 6379
}

variable "snapshot_retention_days" {
  description = "Days daily snapshots are kept."
  type        = number
  default     = 7
}

variable "snapshot_window" {
  description = "Daily UTC window of the snapshot."
  type        = string
  default     = "03:00-04:00"
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window (must not overlap the snapshot window)."
  type        = string
  default     = "sun:05:00-sun:06:00"
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the data at rest and the AUTH token secret."
  type        = string
}

variable "auth_token_secret_name" {
  description = "Secrets Manager name of the AUTH token, `<project>/<client>/<env>/REDIS_AUTH_TOKEN`."
  type        = string
}

variable "apply_immediately" {
  description = "Apply changes now instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "username" {
  description = "Redis (RBAC) user the app connects as; its password is in the secret auth_token_secret_name."
  type        = string
  default     = "app"
}

variable "password_version" {
  description = "Version of the app user's write-only password: bump it to generate and store a new one."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the slow log and the engine log."
  type        = number
  default     = 30
}
