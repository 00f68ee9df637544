variable "name" {
  description = "Cluster identifier, `<project>-<client>-<environment>`."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the instances, one per AZ."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the cluster (27017 from the tasks only)."
  type        = list(string)
}

variable "instance_class" {
  description = "Instance class of every instance."
  type        = string
  default     = "db.r6g.large"
}

variable "instance_count" {
  description = "Instances in the cluster (one writer, the rest readers in other AZs)."
  type        = number
  default     = 2
}

variable "engine_version" {
  description = "DocumentDB engine version."
  type        = string
  default     = "5.0.0"
}

variable "backup_retention_days" {
  description = "Days automated backups are kept."
  type        = number
  default     = 35
}

variable "master_username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by DocumentDB itself."
  type        = string
  default     = "cosyadmin"
}

variable "deletion_protection" {
  description = "Refuse deletion of the cluster."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (dev); otherwise the snapshot is `<name>-final-<creation time>`."
  type        = bool
  default     = false
}

variable "audit_log_retention_days" {
  description = "Days the audit log group keeps events (a year, the audit rule)."
  type        = number
  default     = 365
}

variable "log_retention_days" {
  description = "Days the profiler log group keeps events."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the storage and the exported log groups."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
