#!/usr/bin/env bash
# Apache Kafka for this project, from Maven Central (scripts/kafka/pom.xml), no other download:
#   scripts/kafka.sh fetch         jars into .cache/kafka/<version>/lib (mvn dependency:copy-dependencies);
#                                  does nothing when the cache already matches the pom
#   scripts/kafka.sh run [DIR]     format DIR (default .data/kafka) once as a single-node KRaft log
#                                  directory and run the broker in the foreground on free ports: a
#                                  PLAINTEXT listener (administrator) and a SASL_PLAINTEXT/SCRAM-SHA-512
#                                  one (service principals, held to their ACLs); Ctrl-C stops it.
# Needs Java 17 and Maven. Tests (TEST_BROKER=apache), `skillsub up --broker apache` and
# `skillsub bench --broker apache` use the same code (shared/apache_kafka.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" -m shared.apache_kafka "$@"
