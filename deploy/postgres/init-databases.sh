#!/bin/bash
# Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
# One database per service, named as the settings derive them from DATABASE_URL: skillsub_<service>.
set -euo pipefail
for service in registry eligibility payments reporting; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE skillsub_${service} OWNER \"${POSTGRES_USER}\""
done
