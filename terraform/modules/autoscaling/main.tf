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
    var.request_count_resource_label == null ? {} : {
      requests = {
        metric = "ALBRequestCountPerTarget"
        target = var.targets.requests_per_target
        label  = var.request_count_resource_label
      }
    },
  )
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

    predefined_metric_specification {
      predefined_metric_type = each.value.metric
      resource_label         = each.value.label
    }
  }
}
