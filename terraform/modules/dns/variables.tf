variable "zone_name" {
  description = "Public Route 53 hosted zone (`cosyworld.ai`), looked up in the provider's account."
  type        = string
}

variable "hostname" {
  description = "Record name, `<client>.<zone>` (fully qualified)."
  type        = string
}

variable "alb_dns_name" {
  description = "DNS name of the ALB the record points at."
  type        = string
}

variable "alb_zone_id" {
  description = "Hosted zone id of the ALB."
  type        = string
}

variable "certificate_validation_options" {
  description = "The ALB certificate's `domain_validation_options`: the records ACM asks for."
  type = set(object({
    domain_name           = string
    resource_record_name  = string
    resource_record_type  = string
    resource_record_value = string
  }))
}
