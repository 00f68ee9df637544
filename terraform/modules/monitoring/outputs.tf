output "topic_arns" {
  description = "SNS topic ARNs by severity (critical, warning, info)."
  value       = { for k, t in aws_sns_topic.this : k => t.arn }
}

output "alarm_names" {
  description = "Names of every alarm."
  value = concat(
    [aws_cloudwatch_metric_alarm.no_healthy_targets.alarm_name, aws_cloudwatch_metric_alarm.all_tasks_unhealthy.alarm_name],
    [aws_cloudwatch_metric_alarm.disk_space.alarm_name],
    aws_cloudwatch_metric_alarm.redis_down[*].alarm_name,
    [for a in aws_cloudwatch_metric_alarm.error_rate : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.utilisation : a.alarm_name],
  )
}

output "critical_alarm_names" {
  description = "Names of the alarms that page (critical topic): a release's bake rolls back when one is in ALARM."
  value = concat(
    [aws_cloudwatch_metric_alarm.no_healthy_targets.alarm_name, aws_cloudwatch_metric_alarm.all_tasks_unhealthy.alarm_name],
    aws_cloudwatch_metric_alarm.redis_down[*].alarm_name,
    [aws_cloudwatch_metric_alarm.error_rate["critical"].alarm_name],
  )
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
