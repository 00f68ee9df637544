output "bucket_name" {
  description = "Name of the client's media bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the client's media bucket."
  value       = aws_s3_bucket.this.arn
}

output "video_uploads_table_name" {
  description = "Name of the video-upload table."
  value       = aws_dynamodb_table.video_uploads.name
}

output "video_uploads_table_arn" {
  description = "ARN of the video-upload table."
  value       = aws_dynamodb_table.video_uploads.arn
}
