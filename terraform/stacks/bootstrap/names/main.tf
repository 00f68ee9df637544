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

  # Per environment: the stacks of this account's clients in it, as one name pattern
  # ("<project>-*-<env>", the client stack's naming) rather than a list: an inline role
  # policy holds 10,240 characters, and a list of each client's ARNs passed that at about
  # 8 clients in one account. A client id never has an environment's name as one of its
  # later segments (cosydeploy refuses it), so "-*-dev" never reaches a prod stack.
  stacks = { for e in var.environments : e => "${local.project}-*-${e}" }

  release_vars = { for e in var.environments : e => {
    service_arns   = ["${local.arn}:ecs:*:${var.account_id}:service/${local.stacks[e]}/*"]
    task_role_arns = ["${local.arn}:iam::${var.account_id}:role/${local.stacks[e]}-task", "${local.arn}:iam::${var.account_id}:role/${local.stacks[e]}-exec"]
    log_group_arns = ["${local.arn}:logs:*:${var.account_id}:log-group:/ecs/${local.stacks[e]}:*"]
    # ECS's deployment record of those services (Describe/Continue/Stop need the service and
    # the deployment, DescribeServiceRevisions the service and the revision).
    service_deployment_arns = ["${local.arn}:ecs:*:${var.account_id}:service-deployment/${local.stacks[e]}/*"]
    service_revision_arns   = ["${local.arn}:ecs:*:${var.account_id}:service-revision/${local.stacks[e]}/*"]
    # The bake reads the state of the client stack's alarms (named "<stack>-...").
    alarm_arns        = ["${local.arn}:cloudwatch:*:${var.account_id}:alarm:${local.stacks[e]}-*"]
    state_object_arns = ["${local.state_bucket_arn}/env:/*-${e}/*"]
    state_bucket_arn  = local.state_bucket_arn
    kms_key_arn       = var.kms_key_arn
    table_arns        = local.table_arns
    # Scalable target ids are opaque: the first release of a service raises its minimum.
    scalable_target_arn = "${local.arn}:application-autoscaling:*:${var.account_id}:scalable-target/*"
    # Release notifications: the stack's info topic, encrypted with the stack's key (known
    # here by its alias only), and the Slack-compatible webhook's URL when one is named.
    info_topic_arns   = ["${local.arn}:sns:*:${var.account_id}:${local.stacks[e]}-info"]
    stack_key_arns    = "${local.arn}:kms:*:${var.account_id}:key/*"
    stack_key_aliases = ["alias/${local.stacks[e]}"]
    webhook_secret_arns = local.webhook_secret == null ? [] : [
      "${local.arn}:secretsmanager:*:${var.account_id}:secret:${local.webhook_secret}-??????"
    ]
    # `cosydeploy cutover`: the weights of a client's two weighted CNAME records (UPSERT
    # only), in the zone of this account or, through the DNS account's role, of that one.
    # Named per client (a pattern would reach every record of the zone): about 20
    # characters a client: some 280 clients fit in one account's release role.
    route53_zone_arns    = "${local.arn}:route53:::hostedzone/*"
    cutover_record_names = [for c in var.clients : e == local.last_env ? "${c}.*" : "${c}-${e}.*"]
    dns_role_arns        = local.dns_role_arns
    # The Redis snapshot before a release: its replication group (and member clusters)
    # and the snapshots named after the stack.
    redis_snapshot_arns = [
      "${local.arn}:elasticache:*:${var.account_id}:replicationgroup:${local.stacks[e]}",
      "${local.arn}:elasticache:*:${var.account_id}:cluster:${local.stacks[e]}-*",
      "${local.arn}:elasticache:*:${var.account_id}:snapshot:${local.stacks[e]}-*",
    ]
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
