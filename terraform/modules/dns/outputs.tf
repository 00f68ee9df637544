output "fqdn" {
  description = "Fully qualified name of the record."
  value       = var.old_origin == null ? aws_route53_record.this[0].fqdn : aws_route53_record.weighted["aws"].fqdn
}

output "validation_record_fqdns" {
  description = "Names of the certificate's validation records."
  value       = [for r in aws_route53_record.validation : r.fqdn]
}

output "zone_id" {
  description = "Id of the hosted zone the records are in."
  value       = data.aws_route53_zone.this.zone_id
}

output "weighted_set_identifiers" {
  description = "Set identifiers of the weighted records, `{aws, origin}`, or null without an old origin."
  value = var.old_origin == null ? null : {
    aws    = local.aws_set_identifier
    origin = local.origin_set_identifier
  }
}
