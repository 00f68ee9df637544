variable "name" {
  description = "Name prefix of every resource, `<project>-<client>-<environment>`."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
}

variable "public_subnet_cidrs" {
  description = "One public subnet per availability zone (the ALB and the NAT gateways live here)."
  type        = list(string)
  default     = ["10.0.1.0/24", "10.0.2.0/24"]
}

variable "private_subnet_cidrs" {
  description = "One private subnet per availability zone (tasks, Redis, DocumentDB)."
  type        = list(string)
  default     = ["10.0.10.0/24", "10.0.11.0/24"]

  validation {
    condition     = length(var.private_subnet_cidrs) == length(var.public_subnet_cidrs)
    error_message = "public_subnet_cidrs and private_subnet_cidrs must list one subnet per AZ each."
  }
}

variable "azs" {
  description = "Availability zones to use, in order; empty picks the first available ones of the region."
  type        = list(string)
  default     = []
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper, for dev) instead of one per AZ."
  type        = bool
  default     = false
}

variable "flow_logs" {
  description = "VPC flow logs to CloudWatch Logs: on/off, retention and the KMS key of the log group."
  type = object({
    enabled        = optional(bool, false)
    retention_days = optional(number, 30)
    kms_key_arn    = optional(string)
  })
  default = {}
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints in the private subnets (`logs`, `ecr.api`, `ecr.dkr`, `secretsmanager`, `ssm`); S3 and DynamoDB always get gateway endpoints."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.interface_endpoints : contains(["logs", "ecr.api", "ecr.dkr", "secretsmanager", "ssm", "sts", "monitoring"], s)])
    error_message = "interface_endpoints may name logs, ecr.api, ecr.dkr, secretsmanager, ssm, sts and monitoring."
  }
}

variable "tags" {
  description = "Tags added to every resource (provider default_tags come on top)."
  type        = map(string)
  default     = {}
}
