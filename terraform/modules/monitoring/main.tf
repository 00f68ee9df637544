data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.region
  severities = toset(["critical", "warning", "info"])
  alb_dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }
  ecs_dimensions = {
    ClusterName = var.cluster_name
    ServiceName = var.service_name
  }
  # One ALB serves one service, so the load balancer's own counts are the service's: the
  # target's and the ALB's 5xx over the load balancer's requests is a true share.
  lb_dimensions = { LoadBalancer = var.alb_arn_suffix }
  # After a blue/green, canary or linear deployment the live tasks may be in the alternate
  # target group: the health alarms count the service's targets in both groups.
  alternate_dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.alternate_target_group_arn_suffix
  }
  # 5xx share of all requests, in percent; minutes without traffic count as 0 %.
  error_rate_expression = "100 * FILL(e5, 0) / IF(FILL(req, 0) > 0, req, 1)"
}

resource "aws_sns_topic" "this" {
  for_each = local.severities

  name              = "${var.name}-${each.key}"
  kms_master_key_id = var.kms_key_arn

  tags = var.tags
}

# Who is told, per severity and protocol (a pager through email or SMS for critical).
resource "aws_sns_topic_subscription" "this" {
  for_each = { for s in var.subscriptions : "${s.severity}:${s.protocol}:${s.endpoint}" => s }

  topic_arn = aws_sns_topic.this[each.value.severity].arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

# Who may publish: this account (CloudWatch alarms, the account's own principals), and
# the services that report into a topic: EventBridge into info (deployments, scaling),
# AWS Budgets into warning. Each only for this account's rules and budgets.
locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  topic_publishers = {
    critical = {}
    warning = {
      "budgets.amazonaws.com" = "arn:${local.partition}:budgets::${local.account_id}:budget/*"
    }
    info = {
      "events.amazonaws.com" = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${var.name}-*"
    }
  }
}

data "aws_iam_policy_document" "topic" {
  for_each = local.severities

  statement {
    sid = "ThisAccount"
    actions = [
      "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
      "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish",
    ]
    resources = [aws_sns_topic.this[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceOwner"
      values   = [local.account_id]
    }
  }

  dynamic "statement" {
    for_each = local.topic_publishers[each.key]
    content {
      sid       = "PublishFrom${title(split(".", statement.key)[0])}"
      actions   = ["SNS:Publish"]
      resources = [aws_sns_topic.this[each.key].arn]
      principals {
        type        = "Service"
        identifiers = [statement.key]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  for_each = local.severities

  arn    = aws_sns_topic.this[each.key].arn
  policy = data.aws_iam_policy_document.topic[each.key].json
}

# Info: the service's deployments (started, completed, failed) and Application Auto
# Scaling's events for it (the service reached its maximum count), from EventBridge.
locals {
  service_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${var.cluster_name}/${var.service_name}"
  info_events = {
    deployments = {
      description = "Deployments of ${var.name}: started, completed, failed"
      pattern = {
        source        = ["aws.ecs"]
        "detail-type" = ["ECS Deployment State Change"]
        resources     = [local.service_arn]
      }
    }
    scaling = {
      description = "Scaling of ${var.name} (Application Auto Scaling)"
      pattern = {
        source        = ["aws.application-autoscaling"]
        "detail-type" = ["Application Auto Scaling Scaling Activity State Change"]
        detail = {
          serviceNamespace = ["ecs"]
          resourceId       = ["service/${var.cluster_name}/${var.service_name}"]
        }
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "info" {
  for_each = local.info_events

  name          = "${var.name}-${each.key}"
  description   = each.value.description
  event_pattern = jsonencode(each.value.pattern)

  tags = var.tags
}

resource "aws_cloudwatch_event_target" "info" {
  for_each = local.info_events

  rule      = aws_cloudwatch_event_rule.info[each.key].name
  target_id = "info-topic"
  arn       = aws_sns_topic.this["info"].arn

  depends_on = [aws_sns_topic_policy.this]
}

# Warning: a task's ephemeral storage (Fargate's disk) has less than 15 % free for 5
# minutes (the seed's "disk space < 15 %"), from Container Insights.
resource "aws_cloudwatch_metric_alarm" "disk_space" {
  alarm_name          = "${var.name}-disk-space-low"
  alarm_description   = "Less than ${var.thresholds.disk_free_percent} % of a task's ephemeral storage free in ${var.name} for 5 minutes"
  evaluation_periods  = 5
  comparison_operator = "LessThanThreshold"
  threshold           = var.thresholds.disk_free_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["warning"].arn]
  ok_actions          = [aws_sns_topic.this["warning"].arn]

  metric_query {
    id          = "free"
    expression  = "100 * (1 - used / reserved)"
    label       = "Ephemeral storage free %"
    return_data = true
  }

  metric_query {
    id = "used"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "EphemeralStorageUtilized"
      dimensions  = local.ecs_dimensions
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "reserved"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "EphemeralStorageReserved"
      dimensions  = local.ecs_dimensions
      stat        = "Minimum"
      period      = 60
    }
  }

  tags = var.tags
}

# Critical: the service wants tasks and none passes the health check for a minute. A
# service at 0 tasks (as created, before its first release) wants none and is quiet.
resource "aws_cloudwatch_metric_alarm" "no_healthy_targets" {
  alarm_name          = "${var.name}-no-healthy-targets"
  alarm_description   = "No healthy target in ${var.name} for 1 minute while tasks are wanted"
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["critical"].arn]
  ok_actions          = [aws_sns_topic.this["critical"].arn]

  metric_query {
    id          = "none_healthy"
    expression  = "IF(FILL(desired, 0) > 0 AND (FILL(healthy, 0) + FILL(healthy_alt, 0)) < 1, 1, 0)"
    label       = "Tasks wanted, none healthy"
    return_data = true
  }

  metric_query {
    id = "healthy"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HealthyHostCount"
      dimensions  = local.alb_dimensions
      stat        = "Minimum"
      period      = 60
    }
  }

  metric_query {
    id = "healthy_alt"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HealthyHostCount"
      dimensions  = local.alternate_dimensions
      stat        = "Minimum"
      period      = 60
    }
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = local.ecs_dimensions
      stat        = "Maximum"
      period      = 60
    }
  }

  tags = var.tags
}

# Critical: every registered task is unhealthy for two minutes.
resource "aws_cloudwatch_metric_alarm" "all_tasks_unhealthy" {
  alarm_name          = "${var.name}-all-tasks-unhealthy"
  alarm_description   = "All tasks of ${var.name} unhealthy for 2 minutes"
  evaluation_periods  = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this["critical"].arn]
  ok_actions          = [aws_sns_topic.this["critical"].arn]

  metric_query {
    id          = "all_unhealthy"
    expression  = "IF((FILL(unhealthy, 0) + FILL(unhealthy_alt, 0)) > 0 AND (FILL(healthy, 0) + FILL(healthy_alt, 0)) == 0, 1, 0)"
    label       = "All tasks unhealthy"
    return_data = true
  }

  metric_query {
    id = "unhealthy_alt"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "UnHealthyHostCount"
      dimensions  = local.alternate_dimensions
      stat        = "Minimum"
      period      = 60
    }
  }

  metric_query {
    id = "healthy_alt"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HealthyHostCount"
      dimensions  = local.alternate_dimensions
      stat        = "Maximum"
      period      = 60
    }
  }

  metric_query {
    id = "unhealthy"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "UnHealthyHostCount"
      dimensions  = local.alb_dimensions
      stat        = "Minimum"
      period      = 60
    }
  }

  metric_query {
    id = "healthy"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HealthyHostCount"
      dimensions  = local.alb_dimensions
      stat        = "Maximum"
      period      = 60
    }
  }

  tags = var.tags
}

# Critical: a Redis node reports no metrics (it is down or unreachable) for two minutes.
resource "aws_cloudwatch_metric_alarm" "redis_down" {
  count = length(var.redis_cluster_ids)

  alarm_name          = "${var.name}-redis-down-${count.index + 1}"
  alarm_description   = "Redis node ${var.redis_cluster_ids[count.index]} silent for 2 minutes"
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = var.redis_cluster_ids[count.index] }
  statistic           = "SampleCount"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.this["critical"].arn]
  ok_actions          = [aws_sns_topic.this["critical"].arn]

  tags = var.tags
}

locals {
  error_rate_alarms = {
    critical = { threshold = var.thresholds.error_rate_critical, minutes = 5 }
    warning  = { threshold = var.thresholds.error_rate_warning, minutes = 10 }
  }
}

# 5xx rate: critical above 10 % for 5 minutes, warning above 5 % for 10 minutes.
resource "aws_cloudwatch_metric_alarm" "error_rate" {
  for_each = local.error_rate_alarms

  alarm_name          = "${var.name}-5xx-rate-${each.key}"
  alarm_description   = "5xx above ${each.value.threshold} % of requests for ${each.value.minutes} minutes in ${var.name}"
  evaluation_periods  = each.value.minutes
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.this[each.key].arn]
  ok_actions          = [aws_sns_topic.this[each.key].arn]

  metric_query {
    id          = "rate"
    expression  = local.error_rate_expression
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id         = "e5"
    expression = "FILL(target5xx, 0) + FILL(elb5xx, 0)"
  }

  metric_query {
    id = "target5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.lb_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "elb5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.lb_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  metric_query {
    id = "req"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.lb_dimensions
      stat        = "Sum"
      period      = 60
    }
  }

  tags = var.tags
}

locals {
  utilisation_alarms = {
    cpu    = { metric = "CPUUtilization", threshold = var.thresholds.cpu_percent }
    memory = { metric = "MemoryUtilization", threshold = var.thresholds.memory_percent }
  }
}

# Warning: the service's average CPU above 85 % or memory above 90 % for 10 minutes
# (auto-scaling should have caught it: the ceiling is probably reached).
resource "aws_cloudwatch_metric_alarm" "utilisation" {
  for_each = local.utilisation_alarms

  alarm_name          = "${var.name}-${each.key}-high"
  alarm_description   = "${each.key} above ${each.value.threshold} % for 10 minutes in ${var.name}"
  namespace           = "AWS/ECS"
  metric_name         = each.value.metric
  dimensions          = local.ecs_dimensions
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 10
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.this["warning"].arn]
  ok_actions          = [aws_sns_topic.this["warning"].arn]

  tags = var.tags
}

locals {
  lb_tg = ["LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.target_group_arn_suffix]
  # Per target group widgets show both groups: after a blue/green, canary or linear
  # deployment the live tasks may be in the alternate one.
  target_groups = {
    primary   = { lb_tg = local.lb_tg, suffix = var.target_group_arn_suffix }
    alternate = { lb_tg = ["LoadBalancer", var.alb_arn_suffix, "TargetGroup", var.alternate_target_group_arn_suffix], suffix = var.alternate_target_group_arn_suffix }
  }
  svc = ["ClusterName", var.cluster_name, "ServiceName", var.service_name]
  redis_metric = {
    for m in ["GetTypeCmds", "SetTypeCmds", "CacheHitRate", "Evictions"] : m => [
      for id in var.redis_cluster_ids : ["AWS/ElastiCache", m, "CacheClusterId", id]
    ]
  }
  widgets = [
    {
      title   = "Tasks (running, desired, pending)"
      metrics = [for m in ["RunningTaskCount", "DesiredTaskCount", "PendingTaskCount"] : concat(["ECS/ContainerInsights", m], local.svc)]
      stat    = "Average"
    },
    {
      title   = "CPU and memory (%)"
      metrics = [concat(["AWS/ECS", "CPUUtilization"], local.svc), concat(["AWS/ECS", "MemoryUtilization"], local.svc)]
      stat    = "Average"
    },
    {
      title   = "ALB requests"
      metrics = [for g, t in local.target_groups : concat(["AWS/ApplicationELB", "RequestCount"], t.lb_tg, [{ label = g }])]
      stat    = "Sum"
    },
    {
      title = "2xx and 4xx (targets)"
      metrics = [
        for pair in setproduct(["HTTPCode_Target_2XX_Count", "HTTPCode_Target_4XX_Count"], keys(local.target_groups)) :
        concat(["AWS/ApplicationELB", pair[0]], local.target_groups[pair[1]].lb_tg, [{ label = "${pair[0]} ${pair[1]}" }])
      ]
      stat = "Sum"
    },
    {
      title   = "Requests per target"
      metrics = [for g, t in local.target_groups : ["AWS/ApplicationELB", "RequestCountPerTarget", "TargetGroup", t.suffix, { label = g }]]
      stat    = "Sum"
    },
    {
      title = "Network bytes (ALB processed, task in and out)"
      metrics = [
        ["AWS/ApplicationELB", "ProcessedBytes", "LoadBalancer", var.alb_arn_suffix],
        concat(["ECS/ContainerInsights", "NetworkRxBytes"], local.svc),
        concat(["ECS/ContainerInsights", "NetworkTxBytes"], local.svc),
      ]
      stat = "Sum"
    },
    {
      title = "5xx (target and ALB)"
      metrics = [
        concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.lb_tg, [{ label = "target primary" }]),
        concat(["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"], local.target_groups.alternate.lb_tg, [{ label = "target alternate" }]),
        ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
      ]
      stat = "Sum"
    },
    {
      title = "Target response time (s)"
      metrics = [
        for pair in setproduct(["p50", "p95", "p99"], keys(local.target_groups)) :
        concat(["AWS/ApplicationELB", "TargetResponseTime"], local.target_groups[pair[1]].lb_tg, [{ stat = pair[0], label = "${pair[0]} ${pair[1]}" }])
      ]
      stat = "p50"
    },
    {
      title = "Healthy and unhealthy targets"
      metrics = [
        for pair in setproduct(["HealthyHostCount", "UnHealthyHostCount"], keys(local.target_groups)) :
        concat(["AWS/ApplicationELB", pair[0]], local.target_groups[pair[1]].lb_tg, [{ label = "${pair[0]} ${pair[1]}" }])
      ]
      stat = "Minimum"
    },
    {
      title   = "Redis commands"
      metrics = concat(local.redis_metric["GetTypeCmds"], local.redis_metric["SetTypeCmds"])
      stat    = "Sum"
    },
    {
      title   = "Redis hit rate (%)"
      metrics = local.redis_metric["CacheHitRate"]
      stat    = "Average"
    },
    {
      title   = "Redis evictions"
      metrics = local.redis_metric["Evictions"]
      stat    = "Sum"
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      for i, w in local.widgets : {
        type   = "metric"
        x      = (i % 3) * 8
        y      = floor(i / 3) * 6
        width  = 8
        height = 6
        properties = {
          title   = w.title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = 60
          stat    = w.stat
          metrics = w.metrics
        }
      }
    ]
  })
}

# The seed's billing alarm: a monthly cost budget for this client and environment (the
# costs tagged with both; the tags must be active cost allocation tags), set from
# `cosydeploy cost`'s estimate, warning at 80 % and 100 % of it.
resource "aws_budgets_budget" "this" {
  count = var.budget == null ? 0 : 1

  name         = "${var.name}-monthly"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.budget.monthly_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  filter_expression {
    and {
      tags {
        key    = "Client"
        values = [var.budget.client]
      }
    }
    and {
      tags {
        key    = "Environment"
        values = [var.budget.environment]
      }
    }
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.this["warning"].arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.this["warning"].arn]
  }

  tags = var.tags

  depends_on = [aws_sns_topic_policy.this]
}
