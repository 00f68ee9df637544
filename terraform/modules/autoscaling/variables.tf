variable "cluster_name" {
  description = "ECS cluster of the service."
  type        = string
}

variable "service_name" {
  description = "ECS service whose desired count is scaled."
  type        = string
}

variable "min_count" {
  description = "Fewest tasks."
  type        = number
  default     = 2
}

variable "max_count" {
  description = "Most tasks."
  type        = number
  default     = 10

  validation {
    condition     = var.max_count >= var.min_count
    error_message = "max_count must be at least min_count."
  }
}

variable "targets" {
  description = "Target tracking: average CPU %, average memory %, ALB requests per task, and the cooldowns in seconds."
  type = object({
    cpu_percent         = optional(number, 70)
    memory_percent      = optional(number, 80)
    requests_per_target = optional(number, 1000)
    scale_out_cooldown  = optional(number, 60)
    scale_in_cooldown   = optional(number, 300)
  })
  default = {}
}

variable "request_count" {
  description = "The load balancer and the service's target groups (ARN suffixes) whose requests per task the requests policy tracks, summed over the groups; null skips that policy."
  type = object({
    load_balancer_arn_suffix  = string
    target_group_arn_suffixes = list(string)
  })
  default = null
}

variable "tags" {
  description = "Tags added to the scalable target."
  type        = map(string)
  default     = {}
}
