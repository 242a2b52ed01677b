#!/usr/bin/env bash
# Points a MinIO at `vecr serve`: a bucket, a webhook notification target with a token, and
# put/delete events for member files. Prints the steps (secrets masked); --run runs them with mc.
#
#   MINIO_URL            MinIO API            (default http://localhost:9000)
#   MINIO_ROOT_USER      MinIO user           (default minioadmin)
#   MINIO_ROOT_PASSWORD  MinIO password       (default minioadmin)
#   MINIO_BUCKET_NAME    bucket               (default vecr-garage-storage)
#   WEBHOOK_URL          where MinIO reaches vecr serve, as seen from MinIO
#                        (default http://host.docker.internal:3000/webhook/storage)
#   WEBHOOK_AUTH_TOKEN   the token vecr serve requires (required: off loopback, vecr serve needs it)
#   MC_ALIAS             mc alias to use      (default vecr)
set -euo pipefail

run=false
case "${1:-}" in
  --run) run=true ;;
  ""|--print) ;;
  -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--print|--run]" >&2; exit 2 ;;
esac

minio_url=${MINIO_URL:-http://localhost:9000}
user=${MINIO_ROOT_USER:-minioadmin}
password=${MINIO_ROOT_PASSWORD:-minioadmin}
bucket=${MINIO_BUCKET_NAME:-vecr-garage-storage}
webhook=${WEBHOOK_URL:-http://host.docker.internal:3000/webhook/storage}
token=${WEBHOOK_AUTH_TOKEN:-}
alias=${MC_ALIAS:-vecr}
target=vecr   # the notify_webhook target name; events are sent to arn:minio:sqs::vecr:webhook

# MinIO in Docker reaches vecr serve only off loopback, where vecr serve refuses to start without
# this token: a MinIO set up without one would post to a service that cannot run.
if [ -z "$token" ]; then
  echo "WEBHOOK_AUTH_TOKEN is not set: MinIO must send it, and vecr serve on HOST=0.0.0.0 requires it. Make one, then run this again:" >&2
  echo '  export WEBHOOK_AUTH_TOKEN=$(node -p "require('"'"'crypto'"'"').randomBytes(24).toString('"'"'base64url'"'"')")' >&2
  exit 1
fi

if $run && ! command -v mc >/dev/null; then
  echo "mc (the MinIO client) is not installed: https://min.io/docs/minio/linux/reference/minio-mc.html" >&2
  exit 1
fi

# Prints a step with its secrets masked, and runs it with --run.
step() {
  local shown=("$@") i
  for i in "${!shown[@]}"; do
    shown[$i]=${shown[$i]//"$password"/'****'}
    shown[$i]=${shown[$i]//"$token"/'****'}
  done
  local out=()
  for i in "${shown[@]}"; do
    if [[ $i =~ ^[A-Za-z0-9_./:=,@+-]+$ ]]; then out+=("$i"); else out+=("'$i'"); fi
  done
  echo "${out[*]}"
  if $run; then "$@"; fi
}

# MinIO sends auth_token verbatim in the Authorization header: it must read "Bearer TOKEN".
webhook_config=(endpoint="$webhook" queue_dir=/data/.minio-events queue_limit=100000 auth_token="Bearer $token")

step mc alias set "$alias" "$minio_url" "$user" "$password"
step mc mb --ignore-existing "$alias/$bucket"
step mc admin config set "$alias" "notify_webhook:$target" "${webhook_config[@]}"
step mc admin service restart "$alias"
step mc event add "$alias/$bucket" "arn:minio:sqs::$target:webhook" --event put,delete --suffix .yml
step mc event add "$alias/$bucket" "arn:minio:sqs::$target:webhook" --event put,delete --suffix .yaml

cat <<EOT

# Then run the service against the bucket (HOST=0.0.0.0 so that MinIO in Docker reaches it; off
# loopback it needs API tokens too: npx vecr token NAME --scopes read,chat). **** are your secrets.
VECR_STORAGE=s3://$bucket S3_ENDPOINT=$minio_url MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=**** \\
  WEBHOOK_AUTH_TOKEN=**** VECR_API_TOKENS='<entries from npx vecr token>' HOST=0.0.0.0 npx vecr serve
EOT
