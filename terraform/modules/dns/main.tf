# Everything here is made with the caller's DNS provider: the account that holds the
# zone, the client's own or a separate DNS account.

data "aws_route53_zone" "this" {
  name         = var.zone_name
  private_zone = false
}

resource "aws_route53_record" "validation" {
  for_each = {
    for o in var.certificate_validation_options : o.domain_name => {
      name   = o.resource_record_name
      type   = o.resource_record_type
      record = o.resource_record_value
    }
  }

  zone_id         = data.aws_route53_zone.this.zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 60
  allow_overwrite = true
}

# Without an old origin: one alias record to the ALB.
resource "aws_route53_record" "this" {
  count = var.old_origin == null ? 1 : 0

  zone_id = data.aws_route53_zone.this.zone_id
  name    = var.hostname
  type    = "A"

  alias {
    name                   = var.alb_dns_name
    zone_id                = var.alb_zone_id
    evaluate_target_health = true
  }
}

moved {
  from = aws_route53_record.this
  to   = aws_route53_record.this[0]
}

# With an old origin: two weighted CNAME records of the same name, the ALB ("aws") and the
# old home ("origin"). They start with every request on the origin; `cosydeploy cutover`
# moves the weights (one change batch for both), so Terraform leaves them alone after.
locals {
  weighted = var.old_origin == null ? {} : {
    (local.aws_set_identifier)    = { target = var.alb_dns_name, weight = 0 }
    (local.origin_set_identifier) = { target = var.old_origin, weight = 100 }
  }
  aws_set_identifier    = "aws"
  origin_set_identifier = "origin"
}

resource "aws_route53_record" "weighted" {
  for_each = local.weighted

  zone_id        = data.aws_route53_zone.this.zone_id
  name           = var.hostname
  type           = "CNAME"
  ttl            = var.weighted_ttl
  records        = [each.value.target]
  set_identifier = each.key

  weighted_routing_policy {
    weight = each.value.weight
  }

  lifecycle {
    ignore_changes = [weighted_routing_policy]
  }
}
