# The groups and rules exactly as the architecture draws them:
#   internet -> ALB 443 (and 80, only to redirect) -> tasks 3000 -> Redis 6379 / DocumentDB 27017,
#   and the named release CIDRs -> ALB test listener (8443 by default).
# No other ingress exists. Rules are separate resources so each one is one line of the drawing.

locals {
  https_port      = 443
  http_port       = 80
  documentdb_port = 27017
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (alb, ecs-service, redis, documentdb) through this module's outputs.
  name        = "${var.name}-alb"
  description = "ALB of ${var.name}: HTTPS (and HTTP for the redirect) from anywhere"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (alb, ecs-service, redis, documentdb) through this module's outputs.
  name        = "${var.name}-tasks"
  description = "ECS tasks of ${var.name}: the app port from the ALB only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-tasks" })
}

resource "aws_security_group" "redis" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (alb, ecs-service, redis, documentdb) through this module's outputs.
  name        = "${var.name}-redis"
  description = "Redis of ${var.name}: 6379 from the tasks only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-redis" })
}

resource "aws_security_group" "documentdb" {
  count = var.create_documentdb ? 1 : 0
  #checkov:skip=CKV2_AWS_5:Attached by the documentdb module through this module's outputs.

  name        = "${var.name}-documentdb"
  description = "DocumentDB of ${var.name}: 27017 from the tasks only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-documentdb" })
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = local.https_port
  to_port           = local.https_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only reaches the listener that redirects to HTTPS; the seed requires the redirect.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere, answered only with a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = local.http_port
  to_port           = local.http_port
  cidr_ipv4         = "0.0.0.0/0"
}

# The test listener (blue/green, canary and linear releases reach the new revision through
# it before production traffic does): only from the CIDRs the project names, the places a
# release's verification runs from (a CI runner's egress range, a VPN). None by default.
resource "aws_vpc_security_group_ingress_rule" "alb_test_listener" {
  for_each = toset(var.test_listener_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "Test listener (releases verify the new version) from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.test_listener_port
  to_port           = var.test_listener_port
  cidr_ipv4         = strcontains(each.value, ":") ? null : each.value
  cidr_ipv6         = strcontains(each.value, ":") ? each.value : null
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the tasks on the app port"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "App port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

# Task egress is what the app needs and nothing more: HTTPS out (Discord, Telegram, the AI
# APIs and the AWS APIs, through the NAT gateways or the VPC endpoints), Redis in its group,
# and MongoDB: the DocumentDB group, or Atlas on the internet on 27017. DNS goes to the VPC
# resolver, which security groups do not filter.
resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS out: bots, AI APIs, AWS APIs"
  ip_protocol       = "tcp"
  from_port         = local.https_port
  to_port           = local.https_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_redis" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "To Redis"
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port
  referenced_security_group_id = aws_security_group.redis.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_database" {
  security_group_id            = aws_security_group.tasks.id
  description                  = var.create_documentdb ? "To DocumentDB" : "To MongoDB Atlas"
  ip_protocol                  = "tcp"
  from_port                    = local.documentdb_port
  to_port                      = local.documentdb_port
  referenced_security_group_id = var.create_documentdb ? aws_security_group.documentdb[0].id : null
  cidr_ipv4                    = var.create_documentdb ? null : "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_tasks" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the tasks only"
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_ingress_rule" "documentdb_from_tasks" {
  count = var.create_documentdb ? 1 : 0

  security_group_id            = aws_security_group.documentdb[0].id
  description                  = "DocumentDB from the tasks only"
  ip_protocol                  = "tcp"
  from_port                    = local.documentdb_port
  to_port                      = local.documentdb_port
  referenced_security_group_id = aws_security_group.tasks.id
}
