# These variables are exactly the keys of the terraform.tfvars.json that cosydeploy
# renders for each client and environment (docs/CONTRACTS.md). The sandbox stack
# uses this same file through a symbolic link, so the two cannot drift.

# The name rules of cosydeploy/config/models.py: `<project>-<client>-<environment>` names
# ElastiCache and DocumentDB ids (a letter first, single hyphens, none last, at most 38
# characters so that the Redis users' ids stay within 40) and `<client>-<environment>`
# names the ALB, which must not start with "internal-".

variable "project" {
  description = "Project name, the first part of every name (`cosyworld`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.project))
    error_message = "project must be lowercase letters, digits and single hyphens, starting with a letter."
  }
}

variable "client" {
  description = "Client id: 2-20 lowercase letters, digits and single hyphens; not starting with `internal`."
  type        = string

  validation {
    condition     = length(var.client) <= 20 && can(regex("^[a-z](-?[a-z0-9])+$", var.client))
    error_message = "client must be 2-20 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }

  validation {
    condition     = !startswith(var.client, "internal")
    error_message = "client must not start with \"internal\": AWS reserves ALB names starting with \"internal-\"."
  }
}

variable "environment" {
  description = "Environment: 2-7 lowercase letters and digits (dev, staging, prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,6}$", var.environment))
    error_message = "environment must be 2-7 lowercase letters and digits, starting with a letter."
  }

  validation {
    condition     = length("${var.project}-${var.client}-${var.environment}") <= 38
    error_message = "project, client and environment make names longer than the 38 characters ElastiCache ids allow here."
  }
}

variable "region" {
  description = "AWS region of the client's stack."
  type        = string
}

variable "account_id" {
  description = "The client's AWS account; the provider refuses any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "assume_role_arn" {
  description = "Role to assume in the client's account, or null to use the caller's credentials."
  type        = string
}

variable "zone_name" {
  description = "Public Route 53 hosted zone (`cosyworld.ai`)."
  type        = string
}

variable "hostname" {
  description = "Host name of the app in the zone (`<client>.<zone>`)."
  type        = string
}

variable "dns" {
  description = "The account holding the public zone, when it is not the client's: its id and the role to assume there (the zone lookup, the certificate's validation records and the alias record go through it), or null for the client's own account."
  type = object({
    account_id = string
    role_arn   = string
  })

  validation {
    condition     = var.dns == null ? true : can(regex("^[0-9]{12}$", var.dns.account_id)) && try(split(":", var.dns.role_arn)[4] == var.dns.account_id, false)
    error_message = "dns.account_id must be 12 digits and dns.role_arn a role of that account."
  }
}

variable "alert_email" {
  description = "Address that gets critical and warning alarms, or null."
  type        = string
}

variable "alert_subscriptions" {
  description = "Subscribers of the alert topics per severity (critical, warning, info): protocol email, email-json or sms, and an endpoint; a null endpoint is alert_email."
  type = list(object({
    severity = string
    protocol = string
    endpoint = optional(string)
  }))

  validation {
    condition = alltrue([for s in var.alert_subscriptions :
      contains(["critical", "warning", "info"], s.severity) && contains(["email", "email-json", "sms"], s.protocol)
    ])
    error_message = "alert_subscriptions: severity must be critical, warning or info and protocol email, email-json or sms."
  }

  validation {
    condition     = alltrue([for s in var.alert_subscriptions : s.protocol != "sms" || can(regex("^\\+[1-9][0-9]{6,14}$", coalesce(s.endpoint, "-")))])
    error_message = "alert_subscriptions: an sms subscription needs a number in E.164 form (+15550100)."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the client and environment in USD (`cosydeploy cost`'s estimate at the maximum task count), alerting at 80 % and 100 %; null makes no budget."
  type        = number

  validation {
    condition     = var.monthly_budget_usd == null ? true : var.monthly_budget_usd > 0
    error_message = "monthly_budget_usd must be more than 0."
  }
}

variable "tags" {
  description = "Extra tags on every resource (cost allocation: Project, Client, Environment and ManagedBy are always added)."
  type        = map(string)
}

variable "ecr_repository_url" {
  description = "ECR repository of the app image (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`)."
  type        = string
}

variable "network" {
  description = "VPC and subnets (one public and one private subnet per AZ), NAT layout, flow logs and the interface endpoints that pay (S3 and DynamoDB always get gateway endpoints)."
  type = object({
    vpc_cidr             = optional(string, "10.0.0.0/16")
    public_subnet_cidrs  = optional(list(string), ["10.0.1.0/24", "10.0.2.0/24"])
    private_subnet_cidrs = optional(list(string), ["10.0.10.0/24", "10.0.11.0/24"])
    single_nat_gateway   = optional(bool, false)
    flow_logs            = optional(bool, false)
    interface_endpoints  = optional(list(string), [])
  })
}

variable "service" {
  description = "The ECS service: task size, counts, port, health check, shutdown, logs, first image."
  type = object({
    cpu                       = number
    memory                    = number
    desired_count             = number
    min_count                 = number
    max_count                 = number
    container_port            = optional(number, 3000)
    health_path               = optional(string, "/health/ready")
    health_check_grace_period = optional(number, 60)
    stop_timeout              = optional(number, 30)
    log_retention_days        = optional(number)
    deletion_protection       = optional(bool, false)
    initial_image             = string
  })

  validation {
    condition     = var.service.min_count <= var.service.desired_count && var.service.desired_count <= var.service.max_count
    error_message = "service counts must satisfy min_count <= desired_count <= max_count."
  }

  validation {
    condition = var.service.log_retention_days == null ? true : contains(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
      var.service.log_retention_days,
    )
    error_message = "service.log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "release" {
  description = "How ECS releases a new revision (cosydeploy's release policy): strategy, bake and step minutes, the alarms that roll a deployment back (null: the stack's critical alarms), and the test listener's port and the CIDRs allowed to reach it."
  type = object({
    strategy                         = optional(string, "ROLLING")
    bake_time_in_minutes             = optional(number, 0)
    canary_percent                   = optional(number, 10)
    canary_bake_time_in_minutes      = optional(number, 5)
    linear_step_percent              = optional(number, 20)
    linear_step_bake_time_in_minutes = optional(number, 1)
    alarm_names                      = optional(list(string))
    test_listener_port               = optional(number, 8443)
    test_listener_cidrs              = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = contains(["ROLLING", "BLUE_GREEN", "CANARY", "LINEAR"], var.release.strategy)
    error_message = "release.strategy must be ROLLING, BLUE_GREEN, CANARY or LINEAR."
  }

  # ECS's own bounds (DeploymentConfiguration, CanaryConfiguration, LinearConfiguration).
  validation {
    condition = alltrue([for m in [var.release.bake_time_in_minutes, var.release.canary_bake_time_in_minutes, var.release.linear_step_bake_time_in_minutes] :
    m >= 0 && m <= 1440 && floor(m) == m])
    error_message = "release bake and step times must be whole minutes from 0 to 1440."
  }

  validation {
    condition     = var.release.canary_percent >= 0.1 && var.release.canary_percent <= 100 && var.release.linear_step_percent >= 3 && var.release.linear_step_percent <= 100
    error_message = "release.canary_percent must be 0.1-100 and release.linear_step_percent 3-100."
  }

  validation {
    condition     = var.release.test_listener_port >= 1 && var.release.test_listener_port <= 65535 && !contains([80, 443], var.release.test_listener_port)
    error_message = "release.test_listener_port must be a port other than 80 and 443 (the production listeners)."
  }

  validation {
    condition     = alltrue([for c in var.release.test_listener_cidrs : can(cidrhost(c, 0))])
    error_message = "release.test_listener_cidrs must be CIDR blocks."
  }
}

variable "autoscaling" {
  description = "Target tracking: CPU %, memory %, ALB requests per task, cooldowns in seconds."
  type = object({
    cpu_target          = optional(number, 70)
    memory_target       = optional(number, 80)
    requests_per_target = optional(number, 1000)
    scale_out_cooldown  = optional(number, 60)
    scale_in_cooldown   = optional(number, 300)
  })
}

variable "app" {
  description = "The app's plain environment, feature flags, the names of its secrets, and its database name."
  type = object({
    environment   = optional(map(string), {})
    feature_flags = optional(map(bool), {})
    secret_names  = list(string)
    mongo_db_name = string
  })

  validation {
    condition = length(setintersection(toset(var.app.secret_names), toset([
      "REDIS_AUTH_TOKEN", "WEB_PORT", "MONGO_DB_NAME", "NODE_ENV", "PUBLIC_URL",
      "REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_USERNAME",
    ]))) == 0
    error_message = "app.secret_names must not name what the stack gives the container itself (REDIS_AUTH_TOKEN and the Parameter Store settings)."
  }
}

variable "redis" {
  description = "ElastiCache Redis: node type, node count (more than one: multi-AZ with failover), snapshot retention."
  type = object({
    node_type               = string
    num_nodes               = number
    snapshot_retention_days = optional(number, 7)
  })
}

variable "database" {
  description = "MongoDB Atlas (by connection string in the MONGO_URI secret) or DocumentDB in the VPC."
  type = object({
    engine     = string
    atlas_tier = optional(string)
    documentdb = optional(object({
      instance_class        = optional(string, "db.r6g.large")
      instance_count        = optional(number, 2)
      backup_retention_days = optional(number, 35)
    }))
  })

  validation {
    condition     = contains(["atlas", "documentdb"], var.database.engine)
    error_message = "database.engine must be atlas or documentdb."
  }

  validation {
    condition     = var.database.engine != "documentdb" || var.database.documentdb != null
    error_message = "database.documentdb must be set when database.engine is documentdb."
  }
}
