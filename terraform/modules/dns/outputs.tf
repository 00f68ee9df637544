output "fqdn" {
  description = "Fully qualified name of the record."
  value       = aws_route53_record.this.fqdn
}

output "validation_record_fqdns" {
  description = "Names of the certificate's validation records."
  value       = [for r in aws_route53_record.validation : r.fqdn]
}

output "zone_id" {
  description = "Id of the hosted zone the records are in."
  value       = data.aws_route53_zone.this.zone_id
}
