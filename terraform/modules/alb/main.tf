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
