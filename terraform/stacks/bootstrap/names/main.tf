# Every name and policy document the bootstrap stack creates, computed without any provider
# from cosydeploy.yaml and the templates in terraform/policies: the CLI and the sandbox read
# the same two sources (tests/unit/test_identity_names.py runs this module and compares).
locals {
  config  = yamldecode(file(var.config_path))
  project = local.config.project
  region  = local.config.state.region
  arn     = "arn:${var.partition}"

  state_bucket = replace(local.config.state.bucket, "{account_id}", var.account_id)
  lock_table   = local.config.release.lock_table
  ledger_table = local.config.release.ledger_table
  repository   = local.config.image.repository
  # cosydeploy.yaml `notifications.webhook_secret` (a Secrets Manager name), or null.
  webhook_secret = try(local.config.notifications.webhook_secret, null)

  build_role    = local.config.github.build_role
  release_roles = { for e in var.environments : e => replace(local.config.github.release_role, "{env}", e) }
  infra_roles   = { for e in var.environments : e => replace(local.config.github.infra_role, "{env}", e) }

  owner = split("/", var.github_repository)[0]
  repo  = split("/", var.github_repository)[1]
  subject_prefix = (var.github_oidc_subject.format == "immutable"
    ? "repo:${local.owner}@${var.github_oidc_subject.owner_id}/${local.repo}@${var.github_oidc_subject.repository_id}"
    : "repo:${var.github_repository}"
  )
  build_subjects = ["${local.subject_prefix}:ref:refs/tags/v*"]
  env_subjects   = { for e in var.environments : e => ["${local.subject_prefix}:environment:${e}"] }

  oidc_provider_arn  = "${local.arn}:iam::${var.account_id}:oidc-provider/token.actions.githubusercontent.com"
  state_bucket_arn   = "${local.arn}:s3:::${local.state_bucket}"
  ecr_repository_arn = "${local.arn}:ecr:${local.region}:${var.account_id}:repository/${local.repository}"
  table_arns = [
    "${local.arn}:dynamodb:${local.region}:${var.account_id}:table/${local.lock_table}",
    "${local.arn}:dynamodb:${local.region}:${var.account_id}:table/${local.ledger_table}",
  ]

  # Per environment: the stacks of this account's clients in it (names as the client stack makes them).
  stacks = { for e in var.environments : e => [for c in var.clients : "${local.project}-${c}-${e}"] }

  release_vars = { for e in var.environments : e => {
    service_arns   = [for s in local.stacks[e] : "${local.arn}:ecs:*:${var.account_id}:service/${s}/*"]
    task_role_arns = flatten([for s in local.stacks[e] : ["${local.arn}:iam::${var.account_id}:role/${s}-task", "${local.arn}:iam::${var.account_id}:role/${s}-exec"]])
    log_group_arns = [for s in local.stacks[e] : "${local.arn}:logs:*:${var.account_id}:log-group:/ecs/${s}:*"]
    # ECS's deployment record of those services (Describe/Continue/Stop need the service and
    # the deployment, DescribeServiceRevisions the service and the revision).
    service_deployment_arns = [for s in local.stacks[e] : "${local.arn}:ecs:*:${var.account_id}:service-deployment/${s}/*"]
    service_revision_arns   = [for s in local.stacks[e] : "${local.arn}:ecs:*:${var.account_id}:service-revision/${s}/*"]
    # The bake reads the state of the client stack's alarms (named "<stack>-...").
    alarm_arns        = [for s in local.stacks[e] : "${local.arn}:cloudwatch:*:${var.account_id}:alarm:${s}-*"]
    state_object_arns = [for c in var.clients : "${local.state_bucket_arn}/env:/${c}-${e}/*"]
    state_bucket_arn  = local.state_bucket_arn
    kms_key_arn       = var.kms_key_arn
    table_arns        = local.table_arns
    # Scalable target ids are opaque: the first release of a service raises its minimum.
    scalable_target_arn = "${local.arn}:application-autoscaling:*:${var.account_id}:scalable-target/*"
    # Release notifications: the stack's info topic, encrypted with the stack's key (known
    # here by its alias only), and the Slack-compatible webhook's URL when one is named.
    info_topic_arns   = [for s in local.stacks[e] : "${local.arn}:sns:*:${var.account_id}:${s}-info"]
    stack_key_arns    = "${local.arn}:kms:*:${var.account_id}:key/*"
    stack_key_aliases = [for s in local.stacks[e] : "alias/${s}"]
    webhook_secret_arns = local.webhook_secret == null ? [] : [
      "${local.arn}:secretsmanager:*:${var.account_id}:secret:${local.webhook_secret}-??????"
    ]
    # The Redis snapshot before a release: its replication group (and member clusters)
    # and the snapshots named after the stack.
    # `cosydeploy cutover`: the weights of a client's two weighted CNAME records (UPSERT
    # only), in the zone of this account or, through the DNS account's role, of that one.
    route53_zone_arns    = "${local.arn}:route53:::hostedzone/*"
    cutover_record_names = [for c in var.clients : e == local.last_env ? "${c}.*" : "${c}-${e}.*"]
    dns_role_arns        = local.dns_role_arns
    redis_snapshot_arns = flatten([for s in local.stacks[e] : [
      "${local.arn}:elasticache:*:${var.account_id}:replicationgroup:${s}",
      "${local.arn}:elasticache:*:${var.account_id}:cluster:${s}-*",
      "${local.arn}:elasticache:*:${var.account_id}:snapshot:${s}-*",
    ]])
  } }

  protected_iam_arns = concat(
    [local.oidc_provider_arn, "${local.arn}:iam::${var.account_id}:role/${local.build_role}"],
    [for r in values(local.release_roles) : "${local.arn}:iam::${var.account_id}:role/${r}"],
    [for r in values(local.infra_roles) : "${local.arn}:iam::${var.account_id}:role/${r}"],
  )
  infra_vars = {
    client_iam_arns = [
      "${local.arn}:iam::${var.account_id}:role/${local.project}-*",
      "${local.arn}:iam::${var.account_id}:policy/${local.project}-*",
    ]
    protected_iam_arns = local.protected_iam_arns
    # The DNS account's role (cosydeploy.yaml `dns`), assumed for the Route 53 records.
    dns_role_arns = local.dns_role_arns
  }
  dns_role_arns = try(local.config.dns.role_arn, null) == null ? [] : [local.config.dns.role_arn]
  # The hostname of a client in the last environment is `<client>.<zone>`, else `<client>-<env>.<zone>`.
  last_env = local.config.environments[length(local.config.environments) - 1]
}
