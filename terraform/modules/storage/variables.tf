variable "name" {
  description = "Name prefix, `<project>-<client>-<environment>`: bucket `<name>-<account id>-media`, table `<name>-video-uploads`."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the bucket and the table."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days a replaced object version is kept."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Allow destroying the bucket with objects in it (dev only)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Refuse deletion of the upload table (off in dev, so its stack can be torn down)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
