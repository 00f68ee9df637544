"""The core of cosydeploy: prepare a client/env, release, promote, roll back, in waves.

    service.Releaser   the one object the CLI (or a script) talks to
    pipeline           one client's release and rollback, step by step
    fleet              runs over clients: waves, parallelism, one poller
    waves              the wave grammar (pure)
    infra_check        Terraform in step and drift (pure decisions)
    model              targets, options and results

It returns results and emits events (cosydeploy.events); it never prints, prompts or
exits.
"""
