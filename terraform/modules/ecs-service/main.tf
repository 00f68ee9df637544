data "aws_region" "current" {}

locals {
  # Log retention by environment, from the architecture's retention table.
  retention_by_environment = {
    dev     = 7
    staging = 30
    prod    = 90
  }
  log_retention_days = coalesce(var.log_retention_days, lookup(local.retention_by_environment, var.environment, 30))
  log_group_name     = "/ecs/${var.task_family}"
  shifts_traffic     = var.release.strategy != "ROLLING"
}

resource "aws_ecs_cluster" "this" {
  name = var.cluster_name

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = local.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.task_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task.cpu)
  memory                   = tostring(var.task.memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.task.cpu_architecture
  }

  # The root file system is read-only; the app gets a scratch /tmp.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([
    {
      name                   = var.container_name
      image                  = var.task.image
      essential              = true
      readonlyRootFilesystem = true
      stopTimeout            = var.task.stop_timeout
      portMappings = [
        { containerPort = var.task.container_port, protocol = "tcp", name = "http" }
      ]
      mountPoints = [
        { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }
      ]
      environment = [for k in sort(keys(var.task.environment)) : { name = k, value = var.task.environment[k] }]
      secrets     = [for k in sort(keys(var.task.secrets)) : { name = k, valueFrom = var.task.secrets[k] }]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.this.name
          awslogs-region        = data.aws_region.current.region
          awslogs-stream-prefix = var.container_name
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name             = var.service_name
  cluster          = aws_ecs_cluster.this.arn
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = var.deployment.minimum_healthy_percent
  deployment_maximum_percent         = var.deployment.maximum_percent
  health_check_grace_period_seconds  = var.health_check_grace_period
  # Fargate places tasks across the subnets' AZs; rebalancing keeps them spread after AZ events.
  availability_zone_rebalancing = "ENABLED"
  enable_ecs_managed_tags       = true
  propagate_tags                = "SERVICE"

  # Green tasks that keep failing stop a deployment and roll it back, whatever the
  # strategy (ECS's failure detection covers rolling and the blue/green family alike).
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The ECS controller's own strategies: ROLLING replaces tasks within the bounds above;
  # BLUE_GREEN, CANARY and LINEAR start the new revision beside the current one in the
  # alternate target group, shift test then production traffic by the listener rules'
  # weights, and keep the old tasks through the bake time, so a rollback is instant.
  deployment_configuration {
    strategy = var.release.strategy
    # Only the traffic-shifting strategies bake; ROLLING leaves ECS's own value.
    bake_time_in_minutes = local.shifts_traffic ? tostring(var.release.bake_time_in_minutes) : null

    dynamic "canary_configuration" {
      for_each = var.release.strategy == "CANARY" ? [var.release.canary] : []
      content {
        canary_percent              = canary_configuration.value.percent
        canary_bake_time_in_minutes = tostring(canary_configuration.value.bake_time_in_minutes)
      }
    }

    dynamic "linear_configuration" {
      for_each = var.release.strategy == "LINEAR" ? [var.release.linear] : []
      content {
        step_percent              = linear_configuration.value.step_percent
        step_bake_time_in_minutes = tostring(linear_configuration.value.step_bake_time_in_minutes)
      }
    }
  }

  # An alarm in ALARM during a deployment (or its bake) rolls it back. Turned off, the
  # block stays (enable = false): without it the provider would leave ECS's last alarms on.
  dynamic "alarms" {
    for_each = length(var.release.alarm_names) > 0 ? [var.release.alarm_names] : []
    content {
      alarm_names = alarms.value
      enable      = var.release.alarms_enabled
      rollback    = var.release.alarms_enabled
    }
  }

  deployment_controller {
    type = "ECS"
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }

  # The alternate group and the two rules are always there (whatever the strategy), so a
  # change of strategy is a change of deployment_configuration only.
  load_balancer {
    target_group_arn = var.target_group_arn
    container_name   = var.container_name
    container_port   = var.task.container_port

    advanced_configuration {
      alternate_target_group_arn = var.traffic.alternate_target_group_arn
      production_listener_rule   = var.traffic.production_listener_rule_arn
      test_listener_rule         = var.traffic.test_listener_rule_arn
      role_arn                   = var.traffic.infrastructure_role_arn
    }
  }

  tags = var.tags

  lifecycle {
    # cosydeploy registers task definition revisions and auto-scaling moves the count;
    # Terraform must not roll either back. cosydeploy also sets a PAUSE lifecycle hook
    # right before a release (the new revision waits on test traffic for its verdict):
    # Terraform neither removes it nor adds one (the provider models Lambda hooks only).
    ignore_changes = [task_definition, desired_count, deployment_configuration[0].lifecycle_hook]
  }
}
