"""End-to-end check of the stack's reference Debezium: PostgreSQL 15 -> Debezium -> Kafka.

Run with the stack's env loaded and the worker up (dev/stack up --with-debezium):
    set -a; . .stack/env; set +a; "$PGCDC_PYTHON" dev/lib/debezium_smoke.py
It makes a throwaway database and table, registers a Debezium PostgreSQL connector, inserts a
row before (snapshot, op "r") and after (streaming, op "c") it starts, reads both change events
from Kafka, prints the streamed one, then deletes the connector, its slot, publication, topics
and database. Exit 0 on success.
"""

import json
import os
import subprocess
import sys
import time
import uuid

import requests
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

ENV = os.environ
SUFFIX = uuid.uuid4().hex[:8]
DB = f"stack_smoke_{SUFFIX}"
NAME = f"stack-smoke-{SUFFIX}"
PREFIX = f"stack_smoke_{SUFFIX}"
SLOT = f"stack_smoke_{SUFFIX}"
PUBLICATION = f"stack_smoke_pub_{SUFFIX}"
TOPIC = f"{PREFIX}.public.smoke"


def psql(sql: str, db: str = "postgres") -> str:
    conn = (
        f"host={ENV['PGCDC_PG_HOST']} port={ENV['PGCDC_PG15_PORT']} user={ENV['PGCDC_PG_USER']} "
        f"password={ENV['PGCDC_PG_PASSWORD']} dbname={db}"
    )
    out = subprocess.run(
        [f"{ENV['PGCDC_PG15_BIN']}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", conn, "-c", sql],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def connector_config() -> dict:
    return {
        "name": NAME,
        "config": {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "plugin.name": "pgoutput",
            "database.hostname": ENV["PGCDC_PG_HOST"],
            "database.port": ENV["PGCDC_PG15_PORT"],
            "database.user": ENV["PGCDC_PG_USER"],
            "database.password": ENV["PGCDC_PG_PASSWORD"],
            "database.dbname": DB,
            "topic.prefix": PREFIX,
            "slot.name": SLOT,
            "publication.name": PUBLICATION,
            "publication.autocreate.mode": "filtered",
            "table.include.list": "public.smoke",
            "snapshot.mode": "initial",
            # The broker has auto.create.topics.enable=false: Connect must create the topics.
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": "1",
        },
    }


def wait_running(url: str, deadline: float) -> None:
    while time.time() < deadline:
        r = requests.get(f"{url}/connectors/{NAME}/status", timeout=5)
        if r.ok:
            st = r.json()
            tasks = st.get("tasks", [])
            if st["connector"]["state"] == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return
            if any(t["state"] == "FAILED" for t in tasks):
                raise RuntimeError(f"task failed: {tasks[0].get('trace', '')[:2000]}")
        time.sleep(0.5)
    raise RuntimeError("connector not RUNNING in time")


def wait_streaming(deadline: float) -> None:
    """The slot is active once the task streams (after the snapshot)."""
    while time.time() < deadline:
        if psql(f"SELECT active FROM pg_replication_slots WHERE slot_name = '{SLOT}'") == "t":
            return
        time.sleep(0.5)
    raise RuntimeError(f"slot {SLOT} never became active")


def read_events(want_ops: set, deadline: float) -> dict:
    consumer = Consumer({
        "bootstrap.servers": ENV["PGCDC_KAFKA_BOOTSTRAP"],
        "group.id": f"stack-smoke-{SUFFIX}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([TOPIC])
    seen = {}
    try:
        while time.time() < deadline and not want_ops <= set(seen):
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == -191 or "UNKNOWN_TOPIC" in str(msg.error()):
                    continue  # topic not created yet
                raise KafkaException(msg.error())
            value = json.loads(msg.value())
            seen[value["payload"]["op"]] = {"key": json.loads(msg.key()), "value": value}
    finally:
        consumer.close()
    missing = want_ops - set(seen)
    if missing:
        raise RuntimeError(f"no event with op {sorted(missing)} on {TOPIC}")
    return seen


def cleanup(url: str) -> None:
    requests.delete(f"{url}/connectors/{NAME}", timeout=10)
    deadline = time.time() + 30
    while time.time() < deadline:
        active = psql(f"SELECT active FROM pg_replication_slots WHERE slot_name = '{SLOT}'")
        if active == "":
            break
        if active == "f":
            psql(f"SELECT pg_drop_replication_slot('{SLOT}')")
            break
        time.sleep(0.5)
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")  # drops the publication with it
    admin = AdminClient({"bootstrap.servers": ENV["PGCDC_KAFKA_BOOTSTRAP"], "log_level": 4})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(PREFIX)]
    for f in admin.delete_topics(topics).values() if topics else []:
        f.result()


def main() -> int:
    url = ENV["PGCDC_DEBEZIUM_URL"]
    psql(f"CREATE DATABASE {DB}")
    try:
        psql("CREATE TABLE public.smoke (id serial PRIMARY KEY, note text NOT NULL)", DB)
        psql("INSERT INTO public.smoke (note) VALUES ('before connector')", DB)
        r = requests.post(f"{url}/connectors", json=connector_config(), timeout=30)
        if not r.ok:
            raise RuntimeError(f"POST /connectors: {r.status_code} {r.text}")
        deadline = time.time() + 90
        wait_running(url, deadline)
        wait_streaming(deadline)
        psql("INSERT INTO public.smoke (note) VALUES ('after connector')", DB)
        events = read_events({"r", "c"}, deadline)
        print(json.dumps(events["c"], indent=1))
        print(f"ok: snapshot (r) and streamed (c) events on {TOPIC}", file=sys.stderr)
        return 0
    finally:
        cleanup(url)


if __name__ == "__main__":
    sys.exit(main())
