locals {
  policies = merge(
    {
      cpu = {
        metric = "ECSServiceAverageCPUUtilization"
        target = var.targets.cpu_percent
        label  = null
      }
      memory = {
        metric = "ECSServiceAverageMemoryUtilization"
        target = var.targets.memory_percent
        label  = null
      }
    },
    var.request_count == null ? {} : {
      requests = {
        metric = null # customized: see below
        target = var.targets.requests_per_target
        label  = null
      }
    },
  )
  # Requests per task over both target groups of the service. A blue/green, canary or
  # linear deployment moves production to the other group and leaves it there, so the
  # predefined ALBRequestCountPerTarget of one group would see no requests after every
  # other release. RequestCountPerTarget of a group without targets has no data (FILL 0);
  # while both have tasks, each group's requests per its own tasks add up to the load per
  # task (10 % on green's N tasks + 90 % on blue's N = 100 % per N).
  request_metrics = var.request_count == null ? [] : [
    for i, tg in var.request_count.target_group_arn_suffixes : {
      id            = "m${i + 1}"
      target_group  = tg
      load_balancer = var.request_count.load_balancer_arn_suffix
    }
  ]
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${var.service_name}"
  min_capacity       = var.min_count
  max_capacity       = var.max_count

  tags = var.tags
}

# Target tracking scales out when any policy asks to and in only when all of them allow it,
# which gives "CPU > 70 % out, < ~30 % in" without separate step alarms.
resource "aws_appautoscaling_policy" "this" {
  for_each = local.policies

  name               = "${var.cluster_name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension
  resource_id        = aws_appautoscaling_target.this.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target
    scale_out_cooldown = var.targets.scale_out_cooldown
    scale_in_cooldown  = var.targets.scale_in_cooldown

    dynamic "predefined_metric_specification" {
      for_each = each.value.metric == null ? [] : [each.value]
      content {
        predefined_metric_type = predefined_metric_specification.value.metric
        resource_label         = predefined_metric_specification.value.label
      }
    }

    dynamic "customized_metric_specification" {
      for_each = each.value.metric == null ? [each.key] : []
      content {
        dynamic "metrics" {
          for_each = local.request_metrics
          content {
            id          = metrics.value.id
            return_data = false
            metric_stat {
              stat = "Sum"
              metric {
                namespace   = "AWS/ApplicationELB"
                metric_name = "RequestCountPerTarget"
                dimensions {
                  name  = "LoadBalancer"
                  value = metrics.value.load_balancer
                }
                dimensions {
                  name  = "TargetGroup"
                  value = metrics.value.target_group
                }
              }
            }
          }
        }
        metrics {
          id          = "requests_per_task"
          label       = "Requests per task, both target groups"
          expression  = join(" + ", [for m in local.request_metrics : "FILL(${m.id}, 0)"])
          return_data = true
        }
      }
    }
  }
}
