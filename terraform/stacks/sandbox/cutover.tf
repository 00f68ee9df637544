# The client stack's cutover.tf, provider-free. The sandbox makes the weighted records
# itself (in its Route 53 stand-in) when it provisions a client with an old origin; its
# zone id is the stand-in's own, so cosydeploy finds the zone by name (empty here).

variable "old_origin" {
  description = "Host name (host:port in the sandbox) of the app's old home, or null."
  type        = string
  default     = null
}

locals {
  cutover = var.old_origin == null ? { record = "", aws = "", origin = "" } : {
    record = var.hostname
    aws    = "aws"
    origin = "origin"
  }
}

output "cutover_zone_id" {
  description = "Empty: the sandbox's hosted zone id is not known before it makes the zone."
  value       = ""
}

output "cutover_record_name" {
  description = "Name of the weighted records (the hostname), or empty without an old origin."
  value       = local.cutover.record
}

output "cutover_aws_set_identifier" {
  description = "Set identifier of the weighted record pointing at the ALB, or empty."
  value       = local.cutover.aws
}

output "cutover_origin_set_identifier" {
  description = "Set identifier of the weighted record pointing at the old origin, or empty."
  value       = local.cutover.origin
}
