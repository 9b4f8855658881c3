#!/bin/bash
# Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
# One database per service (skillsub_<service>), owned by the service's owner role skillsub_<service>
# (migrations, grants, the audit purge); the service runs as skillsub_<service>_app, which the
# owner grants only what shared/roles.py allows. No role may connect to another service's database.
set -euo pipefail
for service in registry eligibility payments reporting; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner="skillsub_${service}" -v app="skillsub_${service}_app" \
    -v owner_pw="$SKILLSUB_DB_OWNER_PASSWORD" -v app_pw="$SKILLSUB_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_pw';
CREATE ROLE :"app" LOGIN PASSWORD :'app_pw';
SQL
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE skillsub_${service} OWNER \"skillsub_${service}\"" \
    -c "REVOKE ALL ON DATABASE skillsub_${service} FROM PUBLIC" \
    -c "GRANT CONNECT, TEMPORARY ON DATABASE skillsub_${service} TO \"skillsub_${service}_app\""
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "skillsub_${service}" \
    -c "ALTER SCHEMA public OWNER TO \"skillsub_${service}\""
done
