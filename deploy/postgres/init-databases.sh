#!/bin/sh
# One database per service, each owned by its own login role (PostgreSQL image init hook:
# runs once, when the data volume is empty).
#
#   APP_DATABASES          space-separated names; each is a role and a database
#   APP_DATABASE_PASSWORD  password of those roles (compose: DB_PASSWORD)
#
# A service never reads another's database: the roles cannot connect to the others'.
# No `set -eu`: the image sources this file when it is not executable; errors exit instead.

: "${APP_DATABASES:?set APP_DATABASES}"
: "${APP_DATABASE_PASSWORD:?set APP_DATABASE_PASSWORD}"

for name in $APP_DATABASES; do
    echo "init-databases: role and database ${name}"
    psql --no-psqlrc --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set name="$name" --set password="$APP_DATABASE_PASSWORD" <<'SQL' || exit 1
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"name" TO :"name";
SQL
done
