variable "name" {
  description = "Name prefix of topics, alarms and the dashboard, `<project>-<client>-<environment>`."
  type        = string
}

variable "subscriptions" {
  description = "Subscribers of the topics: severity (critical, warning, info), SNS protocol and endpoint."
  type = list(object({
    severity = string
    protocol = string
    endpoint = string
  }))
  default = []
}

variable "kms_key_arn" {
  description = "KMS key of the SNS topics (its policy must let CloudWatch use it)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster of the service."
  type        = string
}

variable "service_name" {
  description = "ECS service watched."
  type        = string
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB (dimension LoadBalancer)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group (dimension TargetGroup)."
  type        = string
}

variable "alternate_target_group_arn_suffix" {
  description = "ARN suffix of the alternate target group (blue/green, canary, linear): the health alarms count the targets of both groups."
  type        = string
}

variable "redis_cluster_ids" {
  description = "Cache cluster ids of the Redis members (dimension CacheClusterId)."
  type        = list(string)
}

variable "thresholds" {
  description = "Alarm thresholds: 5xx rate % (critical and warning), CPU %, memory % and the free ephemeral storage %."
  type = object({
    error_rate_critical = optional(number, 10)
    error_rate_warning  = optional(number, 5)
    cpu_percent         = optional(number, 85)
    memory_percent      = optional(number, 90)
    disk_free_percent   = optional(number, 15)
  })
  default = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "budget" {
  description = "A monthly cost budget over the costs tagged Client and Environment, alerting the warning topic at 80 % and 100 % of it; null makes none."
  type = object({
    monthly_usd = number
    client      = string
    environment = string
  })
  default = null
}
