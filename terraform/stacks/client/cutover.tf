# Cutover from the app's old home (`cosydeploy cutover`): with an old origin the dns
# module makes two weighted CNAME records for the hostname instead of the alias record,
# and these outputs tell cosydeploy which records to move. The records live in the zone's
# account (providers.tf, aws.dns); cosydeploy changes them as the release identity, through
# the DNS account's role when there is one (README.md, "Cutover from the old home").

variable "old_origin" {
  description = "Host name of the app's old home outside AWS (`app.example.net`), or null: the hostname then points at both by Route 53 weights (all on the old origin at first) until `cosydeploy cutover` moves it."
  type        = string
  default     = null
}

output "cutover_zone_id" {
  description = "Hosted zone of the weighted records, or empty without an old origin."
  value       = var.old_origin == null ? "" : module.dns.zone_id
}

output "cutover_record_name" {
  description = "Name of the weighted records (the hostname), or empty without an old origin."
  value       = var.old_origin == null ? "" : module.dns.fqdn
}

output "cutover_aws_set_identifier" {
  description = "Set identifier of the weighted record pointing at the ALB, or empty."
  value       = var.old_origin == null ? "" : module.dns.weighted_set_identifiers.aws
}

output "cutover_origin_set_identifier" {
  description = "Set identifier of the weighted record pointing at the old origin, or empty."
  value       = var.old_origin == null ? "" : module.dns.weighted_set_identifiers.origin
}
