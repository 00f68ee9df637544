# A provider-free stand-in for the client stack: the same variables, the same
# output names, values computed from the same naming rules (docs/CONTRACTS.md).
# The sandbox creates the matching resources in its local AWS endpoint.

locals {
  name         = "${var.project}-${var.client}-${var.environment}"
  short_name   = "${var.client}-${var.environment}"
  secrets_path = "${var.project}/${var.client}/${var.environment}"

  secret_names = concat(var.app.secret_names, ["REDIS_AUTH_TOKEN"])

  # The sandbox's load balancer ARNs are stable: the id comes from the name, a
  # listener's from its port, a rule's from its priority (cosydeploy/sandbox/elbnames.py).
  elb_arn       = "arn:aws:elasticloadbalancing:${var.region}:${var.account_id}"
  stable_id     = "0000000000000000"
  listener_rule = "${local.elb_arn}:listener-rule/app/${local.short_name}/${local.stable_id}"
  # The production listener (80), the test listener (8443), each with its rule of priority 1.
  production_rule = "${local.listener_rule}/0000000000000080/0000000000000001"
  test_rule       = "${local.listener_rule}/0000000000008443/0000000000000001"
  parameter_keys = concat(
    ["WEB_PORT", "MONGO_DB_NAME", "NODE_ENV", "PUBLIC_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_USERNAME"],
    [for flag in keys(var.app.feature_flags) : "FEATURE_${upper(replace(flag, "-", "_"))}"],
  )

  outputs = {
    cluster_name       = local.name
    service_name       = "app"
    container_name     = "app"
    task_family        = local.name
    execution_role_arn = "arn:aws:iam::${var.account_id}:role/${local.name}-exec"
    task_role_arn      = "arn:aws:iam::${var.account_id}:role/${local.name}-task"
    log_group_name     = "/ecs/${local.name}"
    target_group_arn   = "${local.elb_arn}:targetgroup/${local.short_name}/${local.stable_id}"
    alb_dns_name       = ""
    app_url            = var.sandbox_alb_url == "" ? "" : "${var.sandbox_alb_url}/${local.short_name}"
    # The second target group of blue/green, canary and linear deployments (the primary's
    # name and "-2": no environment's name starts with a digit), the rules ECS moves
    # traffic with, the role it does so as, and the path the test listener answers on.
    alternate_target_group_arn   = "${local.elb_arn}:targetgroup/${local.short_name}-2/${local.stable_id}"
    production_listener_rule_arn = local.production_rule
    test_listener_rule_arn       = local.test_rule
    test_url                     = var.sandbox_alb_url == "" ? "" : "${var.sandbox_alb_url}/_test/${local.short_name}"
    ecs_infrastructure_role_arn  = "arn:aws:iam::${var.account_id}:role/${local.name}-ecs-infra"
    secret_arns = {
      for n in local.secret_names : n => "arn:aws:secretsmanager:${var.region}:${var.account_id}:secret:${local.secrets_path}/${n}"
    }
    parameter_names = { for k in local.parameter_keys : k => "/${local.secrets_path}/${k}" }
    # The monitoring module's topic and the redis module's replication group, named alike.
    info_topic_arn             = "arn:aws:sns:${var.region}:${var.account_id}:${local.name}-info"
    redis_replication_group_id = local.name
    # modules/monitoring's critical alarms: no healthy target, all tasks unhealthy, one
    # per Redis node, the critical 5xx rate.
    alarm_names = concat(
      ["${local.name}-no-healthy-targets", "${local.name}-all-tasks-unhealthy"],
      [for i in range(var.redis.num_nodes) : "${local.name}-redis-down-${i + 1}"],
      ["${local.name}-5xx-rate-critical"],
    )
  }
}

# Holding the values in a resource gives the workspace real state, as the client stack's would.
resource "terraform_data" "stack" {
  input = local.outputs
  # What the client stack sets on the service (strategy, bake, steps, alarms): a change
  # of it is a change here too, so applying it re-provisions the sandbox's service.
  triggers_replace = var.release
}
