variable "cluster_name" {
  description = "Name of the ECS cluster (one per client and environment)."
  type        = string
}

variable "service_name" {
  description = "Name of the ECS service in the cluster."
  type        = string
  default     = "app"
}

variable "container_name" {
  description = "Name of the app container in the task definition."
  type        = string
  default     = "app"
}

variable "task_family" {
  description = "Family of the task definition; cosydeploy registers later revisions in it."
  type        = string
}

variable "environment" {
  description = "Environment name (dev, staging, prod); picks the log retention when log_retention_days is null."
  type        = string
}

variable "task" {
  description = "The first task definition. cosydeploy owns every later revision (image by digest)."
  type = object({
    image            = string
    cpu              = optional(number, 256)
    memory           = optional(number, 512)
    container_port   = optional(number, 3000)
    stop_timeout     = optional(number, 30)
    cpu_architecture = optional(string, "X86_64")
    environment      = optional(map(string), {})
    secrets          = optional(map(string), {})
  })
}

variable "execution_role_arn" {
  description = "Role ECS uses to pull the image, write logs and read secrets."
  type        = string
}

variable "task_role_arn" {
  description = "Role the app itself runs as."
  type        = string
}

variable "desired_count" {
  description = "Tasks at creation (0: nothing runs the placeholder image; the first release starts the tasks); releases and auto-scaling own the count afterwards."
  type        = number
  default     = 0
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in (one per AZ, so tasks spread over AZs)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "target_group_arn" {
  description = "The ALB `ip` target group the service registers tasks into."
  type        = string
}

variable "health_check_grace_period" {
  description = "Seconds ECS ignores ALB health checks after a task starts."
  type        = number
  default     = 60
}

variable "deployment" {
  description = "Rolling deployment bounds. 100/200 keeps full capacity while new tasks start (the blue/green family starts a full second set whatever they say)."
  type = object({
    minimum_healthy_percent = optional(number, 100)
    maximum_percent         = optional(number, 200)
  })
  default = {}
}

variable "release" {
  description = "How ECS deploys a new revision: strategy ROLLING, BLUE_GREEN, CANARY or LINEAR; bake minutes (the old revision kept after production traffic moved; not for ROLLING); the canary share and its minutes; the linear step and its minutes; the alarms of the deployment (none: no alarm block) and whether they roll it back (false: ECS is given them turned off)."
  type = object({
    strategy             = optional(string, "ROLLING")
    bake_time_in_minutes = optional(number, 0)
    canary = optional(object({
      percent              = number
      bake_time_in_minutes = number
    }), { percent = 10, bake_time_in_minutes = 5 })
    linear = optional(object({
      step_percent              = number
      step_bake_time_in_minutes = number
    }), { step_percent = 20, step_bake_time_in_minutes = 1 })
    alarm_names    = optional(list(string), [])
    alarms_enabled = optional(bool, true)
  })
  default = {}

  validation {
    condition     = contains(["ROLLING", "BLUE_GREEN", "CANARY", "LINEAR"], var.release.strategy)
    error_message = "release.strategy must be ROLLING, BLUE_GREEN, CANARY or LINEAR."
  }
}

variable "traffic" {
  description = "What ECS moves traffic with (the service's advanced load balancer configuration, set whatever the strategy): the alternate target group, the production and test listener rules, and the ECS infrastructure role for load balancers."
  type = object({
    alternate_target_group_arn   = string
    production_listener_rule_arn = string
    test_listener_rule_arn       = string
    infrastructure_role_arn      = string
  })
}

variable "log_retention_days" {
  description = "Retention of the app's log group; null picks it by environment (dev 7, staging 30, prod 90)."
  type        = number
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the log group (its policy must allow the CloudWatch Logs service)."
  type        = string
}

variable "container_insights" {
  description = "Container Insights level of the cluster: enabled, enhanced or disabled."
  type        = string
  default     = "enabled"
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
