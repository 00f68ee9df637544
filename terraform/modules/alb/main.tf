resource "aws_acm_certificate" "this" {
  domain_name       = var.domain_name
  validation_method = "DNS"

  tags = merge(var.tags, { Name = var.domain_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_acm_certificate_validation" "this" {
  certificate_arn = aws_acm_certificate.this.arn
  # The records live in the zone's account (the dns module, through the caller's DNS
  # provider); their names come back here.
  validation_record_fqdns = var.validation_record_fqdns

  # A zone of the same name that the domain does not delegate to (a stray zone in the
  # wrong account) never validates: fail the apply instead of waiting 75 minutes.
  timeouts {
    create = var.validation_timeout
  }
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:No WAF in the target architecture yet; the app has its own rate limits. Attach a web ACL here when one exists.
  #checkov:skip=CKV_AWS_91:Access logs are optional (var.access_logs) because they need a bucket with an ELB delivery policy per region.
  #checkov:skip=CKV_AWS_150:Deletion protection follows the environment (var.deletion_protection, on in prod) so dev stacks can be torn down.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = var.security_group_ids
  idle_timeout               = var.idle_timeout
  enable_deletion_protection = var.deletion_protection
  drop_invalid_header_fields = true
  enable_http2               = true

  dynamic "access_logs" {
    for_each = var.access_logs.enabled ? [var.access_logs] : []
    content {
      enabled = true
      bucket  = access_logs.value.bucket
      prefix  = access_logs.value.prefix
    }
  }

  tags = merge(var.tags, { Name = var.name })
}

locals {
  # A replacement target group (new port, protocol or target type) is created before the
  # old one is gone, and names are unique per account and region: the name carries a
  # short digest of what forces the replacement. 27 + 1 + 4 = 32 characters at most.
  target_group_name = format(
    "%s-%s",
    replace(substr(var.target_group_name, 0, 27), "/-+$/", ""),
    substr(sha1(jsonencode([var.target_port, "HTTP", "ip"])), 0, 4),
  )
  # The alternate ("green") group: `-alt-` and a digest of its own (the role is part of
  # it), so it never takes the name of another stack's primary group, even one whose
  # environment is called "alt". 23 + 5 + 4 = 32 characters at most.
  alternate_target_group_name = format(
    "%s-alt-%s",
    replace(substr(var.target_group_name, 0, 23), "/-+$/", ""),
    substr(sha1(jsonencode([var.target_port, "HTTP", "ip", "alternate"])), 0, 4),
  )
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; tasks sit in private subnets reachable only from the ALB's security group.
  name                 = local.target_group_name
  vpc_id               = var.vpc_id
  target_type          = "ip"
  port                 = var.target_port
  protocol             = "HTTP"
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check.path
    matcher             = var.health_check.matcher
    interval            = var.health_check.interval
    timeout             = var.health_check.timeout
    healthy_threshold   = var.health_check.healthy_threshold
    unhealthy_threshold = var.health_check.unhealthy_threshold
  }

  tags = merge(var.tags, { Name = local.target_group_name })

  lifecycle {
    create_before_destroy = true
  }
}

# The second target group of blue/green, canary and linear releases: ECS registers the new
# revision's tasks in whichever group has no production weight, then moves the weights of
# the two listener rules below. Both groups always exist, so changing the strategy is only
# a change of the service's deployment configuration.
resource "aws_lb_target_group" "alternate" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; tasks sit in private subnets reachable only from the ALB's security group.
  name                 = local.alternate_target_group_name
  vpc_id               = var.vpc_id
  target_type          = "ip"
  port                 = var.target_port
  protocol             = "HTTP"
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = "traffic-port"
    path                = var.health_check.path
    matcher             = var.health_check.matcher
    interval            = var.health_check.interval
    timeout             = var.health_check.timeout
    healthy_threshold   = var.health_check.healthy_threshold
    unhealthy_threshold = var.health_check.unhealthy_threshold
  }

  tags = merge(var.tags, { Name = local.alternate_target_group_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = var.tags
}

resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:This listener only redirects to HTTPS; it never forwards.
  #checkov:skip=CKV_AWS_103:This listener only redirects to HTTPS; TLS is set on the HTTPS listener.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

# Production traffic goes through this rule (every path), not the listener's default
# action: ECS moves traffic by changing the rule's weights during a deployment. Created at
# [primary 100, alternate 0]; after a blue/green deployment the weights stay where ECS
# left them (the alternate group may be the live one), so Terraform ignores the action:
# putting the weights back would send all traffic to a group whose tasks ECS has stopped.
resource "aws_lb_listener_rule" "production" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this.arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.alternate.arn
        weight = 0
      }
    }
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  tags = var.tags

  lifecycle {
    ignore_changes = [action]
  }
}

# The test listener: the same certificate on another port. ECS sends it to the new
# revision first (test traffic shift) so a release verifies the new version before any
# production request reaches it. Who may connect is the security group's business (only
# the CIDRs the project names).
resource "aws_lb_listener" "test" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.test_listener_port
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = aws_acm_certificate_validation.this.certificate_arn

  # Every request matches the test rule; this answers only if that rule were gone.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "no test route"
      status_code  = "404"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "test" {
  listener_arn = aws_lb_listener.test.arn
  priority     = 1

  action {
    type = "forward"

    forward {
      target_group {
        arn    = aws_lb_target_group.this.arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.alternate.arn
        weight = 0
      }
    }
  }

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  tags = var.tags

  # ECS moves these weights too (test traffic to the new revision); see the production rule.
  lifecycle {
    ignore_changes = [action]
  }
}
