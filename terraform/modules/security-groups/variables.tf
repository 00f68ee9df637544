variable "name" {
  description = "Name prefix of the security groups, `<project>-<client>-<environment>`."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "container_port" {
  description = "Port the app listens on inside its task; the ALB reaches tasks on it."
  type        = number
  default     = 3000
}

variable "redis_port" {
  description = "Port of the Redis replication group."
  type        = number
  default     = 6379
}

variable "create_documentdb" {
  description = "Create the DocumentDB group (27017 from tasks only)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
