# Started by /bin/busybox sh; applets are called through busybox because the image has no /bin/sh.
bb=/bin/busybox
port="${PORT:-3000}"
mode="${APP_BREAK:-none}"
version="${APP_BUILD_VERSION:-dev}"
echo "app ${version} starting (APP_VERSION=${APP_VERSION:-unset}, break=${mode}, port=${port})"

if [ "$mode" = "crash" ]; then
  echo "error: app ${version} failed to start (break=crash)" >&2
  exit 3
fi
if [ "${CRASH_ON_START:-0}" = "1" ]; then
  # Per-client breakage (a manifest's app.environment), with the same image as everyone.
  echo "error: app ${version} failed to start (CRASH_ON_START=1)" >&2
  exit 3
fi
if [ "$mode" = "slow" ]; then
  echo "app ${version} warming up for ${SLOW_SECONDS:-8}s"
  $bb sleep "${SLOW_SECONDS:-8}"
fi

www=/app/www
$bb mkdir -p "$www/health"
echo ok > "$www/health/live"
if [ "$mode" != "unhealthy" ]; then
  echo ok > "$www/health/ready"
fi
echo "$version" > "$www/version"
echo "app ${version} listening on :${port}"
if [ "$mode" = "crash-later" ]; then
  # Healthy at first, then the process dies: what a bake is there to catch.
  $bb httpd -f -v -p "$port" -h "$www" &
  $bb sleep "${CRASH_AFTER:-20}"
  echo "error: app ${version} crashed after ${CRASH_AFTER:-20}s (break=crash-later)" >&2
  exit 3
fi
exec $bb httpd -f -v -p "$port" -h "$www"
