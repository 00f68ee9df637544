variable "name" {
  description = "Name prefix, `<project>-<client>-<environment>`: roles are `<name>-exec`, `<name>-task` and `<name>-ecs-lb`."
  type        = string
}

variable "secrets_path" {
  description = "Secrets Manager path of this client and environment, `<project>/<client>/<environment>`; the execution role reads `<path>/*` only."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository the execution role pulls from."
  type        = string
}

variable "log_group_arn" {
  description = "Log group the containers write to."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the secrets (decrypt only)."
  type        = string
}

variable "bucket_arn" {
  description = "The client's S3 bucket; the task role gets its objects only."
  type        = string
}

variable "video_uploads_table_arn" {
  description = "The client's video-upload DynamoDB table; the task role gets item access on it only."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
