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

variable "test_listener_port" {
  description = "Port of the ALB's test listener (releases verify a new revision through it)."
  type        = number
  default     = 8443
}

variable "test_listener_cidrs" {
  description = "CIDR blocks (IPv4 or IPv6) that may reach the test listener: where releases run their verification from. Empty: nobody."
  type        = list(string)
  default     = []
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
