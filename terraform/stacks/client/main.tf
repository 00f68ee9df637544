locals {
  name         = "${var.project}-${var.client}-${var.environment}"
  short_name   = "${var.client}-${var.environment}"
  secrets_path = "${var.project}/${var.client}/${var.environment}"
  is_prod      = var.environment == "prod"
  documentdb   = var.database.engine == "documentdb"

  # <account>.dkr.ecr.<region>.amazonaws.com/<repository>
  ecr_host           = split("/", var.ecr_repository_url)[0]
  ecr_repository     = join("/", slice(split("/", var.ecr_repository_url), 1, length(split("/", var.ecr_repository_url))))
  ecr_repository_arn = "arn:${data.aws_partition.current.partition}:ecr:${split(".", local.ecr_host)[3]}:${split(".", local.ecr_host)[0]}:repository/${local.ecr_repository}"

  app_url = "https://${var.hostname}"
  # Where the test listener answers: the same host name (the certificate's) on its port.
  test_url = "https://${var.hostname}:${var.release.test_listener_port}"

  # The cluster and service names, known before either exists: the monitoring module's
  # alarms name them, and the service's deployment alarms name those alarms, so passing
  # the ecs_service module's outputs to monitoring would make a cycle.
  cluster_name = local.name
  service_name = "app"

  parameters = merge(
    {
      WEB_PORT       = tostring(var.service.container_port)
      MONGO_DB_NAME  = var.app.mongo_db_name
      NODE_ENV       = lookup(var.app.environment, "NODE_ENV", "production")
      PUBLIC_URL     = local.app_url
      REDIS_HOST     = module.redis.primary_endpoint
      REDIS_PORT     = tostring(module.redis.port)
      REDIS_TLS      = "true"
      REDIS_USERNAME = module.redis.username
    },
    { for flag, on in var.app.feature_flags : "FEATURE_${upper(replace(flag, "-", "_"))}" => tostring(on) },
  )
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

# One customer-managed key per client and environment: logs, secrets, Redis, SNS,
# the media bucket, the upload table and DocumentDB.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource is always the key itself; the account root keeps administration so IAM policies can delegate.
  #checkov:skip=CKV_AWS_111:A key policy's Resource is always the key itself; writes are limited to the account root and named services.
  #checkov:skip=CKV_AWS_356:In a key policy "*" means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsOfThisAccount"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "AlarmsEventsAndBudgetsPublishToEncryptedTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "Data of ${local.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

module "network" {
  source = "../../modules/network"

  name                 = local.name
  vpc_cidr             = var.network.vpc_cidr
  public_subnet_cidrs  = var.network.public_subnet_cidrs
  private_subnet_cidrs = var.network.private_subnet_cidrs
  single_nat_gateway   = var.network.single_nat_gateway
  interface_endpoints  = var.network.interface_endpoints
  flow_logs = {
    enabled        = var.network.flow_logs
    retention_days = coalesce(var.service.log_retention_days, 30)
    kms_key_arn    = aws_kms_key.this.arn
  }
}

module "security_groups" {
  source = "../../modules/security-groups"

  name              = local.name
  vpc_id            = module.network.vpc_id
  container_port    = var.service.container_port
  create_documentdb = local.documentdb
  # The test listener, only from where releases verify (cosydeploy.yaml release.test_listener_cidrs).
  test_listener_port  = var.release.test_listener_port
  test_listener_cidrs = var.release.test_listener_cidrs
}

module "alb" {
  source = "../../modules/alb"

  name               = local.short_name
  target_group_name  = local.short_name
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.public_subnet_ids
  security_group_ids = [module.security_groups.alb_security_group_id]
  domain_name        = var.hostname
  # The certificate is the client's; its validation records are in the zone's account.
  validation_record_fqdns = module.dns.validation_record_fqdns
  target_port             = var.service.container_port
  health_check            = { path = var.service.health_path }
  deletion_protection     = var.service.deletion_protection || local.is_prod
  test_listener_port      = var.release.test_listener_port
}

module "storage" {
  source = "../../modules/storage"

  name          = local.name
  kms_key_arn   = aws_kms_key.this.arn
  force_destroy = var.environment == "dev"
  # Dev stacks are torn down and rebuilt; every other environment keeps its data.
  deletion_protection = var.environment != "dev"
}

module "iam" {
  source = "../../modules/iam"

  name                    = local.name
  secrets_path            = local.secrets_path
  ecr_repository_arn      = local.ecr_repository_arn
  log_group_arn           = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${var.account_id}:log-group:/ecs/${local.name}"
  kms_key_arn             = aws_kms_key.this.arn
  bucket_arn              = module.storage.bucket_arn
  video_uploads_table_arn = module.storage.video_uploads_table_arn
}

module "secrets" {
  source = "../../modules/secrets"

  prefix       = local.secrets_path
  secret_names = toset(var.app.secret_names)
  parameters   = local.parameters
  kms_key_arn  = aws_kms_key.this.arn
}

module "redis" {
  source = "../../modules/redis"

  name                    = local.name
  subnet_ids              = module.network.private_subnet_ids
  security_group_ids      = [module.security_groups.redis_security_group_id]
  node_type               = var.redis.node_type
  num_nodes               = var.redis.num_nodes
  snapshot_retention_days = var.redis.snapshot_retention_days
  kms_key_arn             = aws_kms_key.this.arn
  auth_token_secret_name  = "${local.secrets_path}/REDIS_AUTH_TOKEN"
  log_retention_days      = coalesce(var.service.log_retention_days, 30)
}

module "documentdb" {
  source = "../../modules/documentdb"
  count  = local.documentdb ? 1 : 0

  name                  = local.name
  subnet_ids            = module.network.private_subnet_ids
  security_group_ids    = [module.security_groups.documentdb_security_group_id]
  instance_class        = var.database.documentdb.instance_class
  instance_count        = var.database.documentdb.instance_count
  backup_retention_days = var.database.documentdb.backup_retention_days
  deletion_protection   = local.is_prod
  skip_final_snapshot   = var.environment == "dev"
  log_retention_days    = coalesce(var.service.log_retention_days, 30)
  kms_key_arn           = aws_kms_key.this.arn
}

locals {
  # The alarms that roll a deployment back: the manifest's, or (null) the critical ones.
  deployment_alarms = var.release.alarm_names == null ? module.monitoring.critical_alarm_names : var.release.alarm_names
  secret_arns       = merge(module.secrets.secret_arns, { REDIS_AUTH_TOKEN = module.redis.auth_token_secret_arn })
  # Settings reach the container as `secrets` from Parameter Store, unless the
  # manifest gives the same name as a plain environment value.
  parameter_refs = { for k, arn in module.secrets.parameter_arns : k => arn if !contains(keys(var.app.environment), k) }
}

module "ecs_service" {
  source = "../../modules/ecs-service"

  cluster_name   = local.cluster_name
  service_name   = local.service_name
  container_name = "app"
  task_family    = local.name
  environment    = var.environment

  task = {
    image          = var.service.initial_image
    cpu            = var.service.cpu
    memory         = var.service.memory
    container_port = var.service.container_port
    stop_timeout   = var.service.stop_timeout
    environment    = var.app.environment
    secrets        = merge(local.parameter_refs, local.secret_arns)
  }

  execution_role_arn = module.iam.execution_role_arn
  task_role_arn      = module.iam.task_role_arn
  # Created with no task: the first image is a placeholder and the secrets have no value
  # yet, so tasks would only fail, trip the circuit breaker and page. The first release
  # starts var.service.desired_count tasks and raises the scaling minimum (cosydeploy
  # release); Terraform ignores the count from then on.
  desired_count             = 0
  subnet_ids                = module.network.private_subnet_ids
  security_group_ids        = [module.security_groups.tasks_security_group_id]
  target_group_arn          = module.alb.target_group_arn
  health_check_grace_period = var.service.health_check_grace_period
  log_retention_days        = var.service.log_retention_days
  kms_key_arn               = aws_kms_key.this.arn

  # The release policy (cosydeploy renders it from the manifest's release block). Its
  # alarms roll a deployment back; none named: the stack's critical alarms.
  release = {
    strategy             = var.release.strategy
    bake_time_in_minutes = var.release.bake_time_in_minutes
    canary = {
      percent              = var.release.canary_percent
      bake_time_in_minutes = var.release.canary_bake_time_in_minutes
    }
    linear = {
      step_percent              = var.release.linear_step_percent
      step_bake_time_in_minutes = var.release.linear_step_bake_time_in_minutes
    }
    # release.alarms: [] turns the deployment alarms off; ECS is then given the critical
    # alarms with enable = false, which clears what an earlier apply turned on.
    alarm_names    = length(local.deployment_alarms) > 0 ? local.deployment_alarms : module.monitoring.critical_alarm_names
    alarms_enabled = length(local.deployment_alarms) > 0
  }
  traffic = {
    alternate_target_group_arn   = module.alb.alternate_target_group_arn
    production_listener_rule_arn = module.alb.production_listener_rule_arn
    test_listener_rule_arn       = module.alb.test_listener_rule_arn
    infrastructure_role_arn      = module.iam.ecs_infrastructure_role_arn
  }
}

module "autoscaling" {
  source = "../../modules/autoscaling"

  cluster_name = module.ecs_service.cluster_name
  service_name = module.ecs_service.service_name
  # Registering a scalable target lifts the count into [min, max] at once: keep the
  # minimum at 0 while the service has never been started, min_count once a release has.
  min_count = module.ecs_service.desired_count == 0 ? 0 : var.service.min_count
  max_count = var.service.max_count
  request_count = {
    load_balancer_arn_suffix  = module.alb.alb_arn_suffix
    target_group_arn_suffixes = [module.alb.target_group_arn_suffix, module.alb.alternate_target_group_arn_suffix]
  }
  targets = {
    cpu_percent         = var.autoscaling.cpu_target
    memory_percent      = var.autoscaling.memory_target
    requests_per_target = var.autoscaling.requests_per_target
    scale_out_cooldown  = var.autoscaling.scale_out_cooldown
    scale_in_cooldown   = var.autoscaling.scale_in_cooldown
  }
}

module "monitoring" {
  source = "../../modules/monitoring"

  name = local.name
  # A subscription without an endpoint goes to the client's contact (none without one).
  subscriptions = [
    for s in var.alert_subscriptions : merge(s, { endpoint = coalesce(s.endpoint, var.alert_email) })
    if s.endpoint != null || var.alert_email != null
  ]
  kms_key_arn                       = aws_kms_key.this.arn
  cluster_name                      = local.cluster_name
  service_name                      = local.service_name
  alb_arn_suffix                    = module.alb.alb_arn_suffix
  target_group_arn_suffix           = module.alb.target_group_arn_suffix
  alternate_target_group_arn_suffix = module.alb.alternate_target_group_arn_suffix
  redis_cluster_ids                 = module.redis.member_cluster_ids
  budget = var.monthly_budget_usd == null ? null : {
    monthly_usd = var.monthly_budget_usd
    client      = var.client
    environment = var.environment
  }
}

# Route 53 in the account that holds the zone (providers.tf, aws.dns): the zone lookup,
# the certificate's validation records and the app's alias record.
module "dns" {
  source = "../../modules/dns"
  providers = {
    aws = aws.dns
  }

  zone_name                      = var.zone_name
  hostname                       = var.hostname
  certificate_validation_options = module.alb.domain_validation_options
  alb_dns_name                   = module.alb.alb_dns_name
  alb_zone_id                    = module.alb.alb_zone_id
  old_origin                     = var.old_origin # cutover.tf
}
