"""ECS: task definitions (render, diff), the rollout watcher, and failure diagnosis."""
