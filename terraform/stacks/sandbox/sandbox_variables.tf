# variables.tf is a link to the client stack's, so one tfvars file serves both stacks.

variable "sandbox_alb_url" {
  description = "Base URL of the sandbox's stand-in load balancer; empty before the sandbox runs one."
  type        = string
  default     = ""
}
