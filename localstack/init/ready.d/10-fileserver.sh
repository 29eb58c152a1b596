#!/bin/bash
# Runs inside the LocalStack container once it is ready: the bucket of the local server (`npm start` with
# S3_ENDPOINT) and the SSM parameter that a `--stage local` deployment reads its Basic credentials from.
set -euo pipefail
awslocal s3 mb "s3://${FILESERVER_BUCKET:-recodex-fileserver}" || true
awslocal ssm put-parameter --overwrite --type SecureString \
  --name /recodex/fileserver/credentials --value "${FILESERVER_CREDENTIALS:-re:codex}"
echo "fileserver: bucket ${FILESERVER_BUCKET:-recodex-fileserver} and /recodex/fileserver/credentials are ready"
