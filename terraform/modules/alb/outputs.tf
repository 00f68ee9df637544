output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the `ip` target group the ECS service registers into; ready once a listener forwards to it."
  value       = aws_lb_target_group.this.arn

  # ECS refuses a service whose target group no load balancer uses yet. Ordering through
  # this output, not a module-level depends_on, keeps the caller's data sources readable
  # at plan time.
  depends_on = [aws_lb_listener.https]
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.this.arn_suffix
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener."
  value       = aws_lb_listener.https.arn
}

output "certificate_arn" {
  description = "ARN of the validated ACM certificate."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "domain_validation_options" {
  description = "The DNS records ACM asks for to validate the certificate (for the dns module)."
  value       = aws_acm_certificate.this.domain_validation_options
}

output "alternate_target_group_arn" {
  description = "ARN of the alternate target group (the new revision's tasks in a blue/green, canary or linear deployment); ready once the listener rules forward to it."
  value       = aws_lb_target_group.alternate.arn

  depends_on = [aws_lb_listener_rule.production, aws_lb_listener_rule.test]
}

output "alternate_target_group_arn_suffix" {
  description = "ARN suffix of the alternate target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.alternate.arn_suffix
}

output "production_listener_rule_arn" {
  description = "ARN of the HTTPS listener's rule whose weights ECS moves to shift production traffic."
  value       = aws_lb_listener_rule.production.arn
}

output "test_listener_rule_arn" {
  description = "ARN of the test listener's rule whose weights ECS moves to shift test traffic."
  value       = aws_lb_listener_rule.test.arn
}

output "test_listener_port" {
  description = "Port of the test listener."
  value       = aws_lb_listener.test.port
}
