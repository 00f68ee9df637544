variable "name" {
  description = "Name of the load balancer, `<project>-<client>-<environment>` (at most 32 characters)."
  type        = string
}

variable "target_group_name" {
  description = "Name of the target group before its digest, `<client>-<environment>` (the first 27 characters are kept)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets the ALB spans, one per AZ."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the ALB."
  type        = list(string)
}

variable "domain_name" {
  description = "Host name served (`<client>.<zone>`); the ACM certificate is issued for it."
  type        = string
}

variable "validation_record_fqdns" {
  description = "Names of the Route 53 records that validate the certificate (the dns module's `validation_record_fqdns`)."
  type        = list(string)
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 and 1.2 only by default)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "target_port" {
  description = "Port of the app in its task (targets are task IPs)."
  type        = number
  default     = 3000
}

variable "health_check" {
  description = "Target group health check: every 10 s, 3 failures, so a dead task stops getting traffic within 30 s."
  type = object({
    path                = optional(string, "/health/ready")
    matcher             = optional(string, "200")
    interval            = optional(number, 10)
    timeout             = optional(number, 5)
    healthy_threshold   = optional(number, 2)
    unhealthy_threshold = optional(number, 3)
  })
  default = {}
}

variable "deregistration_delay" {
  description = "Seconds the ALB keeps draining a deregistered task (keep it below the task's stopTimeout plus SIGTERM handling)."
  type        = number
  default     = 30
}

variable "idle_timeout" {
  description = "Idle connection timeout of the ALB, in seconds."
  type        = number
  default     = 60
}

variable "deletion_protection" {
  description = "Refuse deletion of the ALB (on in prod)."
  type        = bool
  default     = false
}

variable "access_logs" {
  description = "ALB access logs to an S3 bucket that already allows the ELB log delivery principal."
  type = object({
    enabled = optional(bool, false)
    bucket  = optional(string, "")
    prefix  = optional(string)
  })
  default = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "validation_timeout" {
  description = "How long the apply waits for ACM to see the validation records before it fails (a Go duration)."
  type        = string
  default     = "15m"
}

variable "test_listener_port" {
  description = "Port of the test listener (HTTPS, the same certificate) that reaches a new revision before production traffic does."
  type        = number
  default     = 8443

  validation {
    condition     = var.test_listener_port >= 1 && var.test_listener_port <= 65535 && !contains([80, 443], var.test_listener_port)
    error_message = "test_listener_port must be a port other than 80 and 443."
  }
}
