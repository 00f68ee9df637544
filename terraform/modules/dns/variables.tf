variable "zone_id" {
  description = "Route 53 hosted zone of `<zone>`."
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
