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

variable "old_origin" {
  description = "Host name of the app's old home outside AWS (`app.example.net`), or null. With one, the hostname gets two weighted CNAME records (the ALB at weight 0, the old origin at 100) that `cosydeploy cutover` moves; without, an alias record to the ALB."
  type        = string
  default     = null

  validation {
    condition     = var.old_origin == null ? true : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.old_origin))
    error_message = "old_origin must be a host name (a CNAME target: no port, no IP address)."
  }
}

variable "weighted_ttl" {
  description = "TTL in seconds of the weighted records: how long a resolver may keep answering with the old weights after a cutover step."
  type        = number
  default     = 60
}
