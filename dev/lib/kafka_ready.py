"""Exit 0 when the broker answers metadata on both listeners and lists itself as a broker.

usage: kafka_ready.py PLAINTEXT_BOOTSTRAP SASL_BOOTSTRAP SASL_USER SASL_PASSWORD
One attempt (a few seconds at most); dev/stack calls it in a loop with its own deadline.
"""

import sys

from confluent_kafka.admin import AdminClient


def brokers(conf: dict) -> int:
    admin = AdminClient({**conf, "socket.timeout.ms": 2000, "log_level": 0})
    return len(admin.list_topics(timeout=2).brokers)


def main() -> int:
    plain, sasl, user, password = sys.argv[1:5]
    try:
        if brokers({"bootstrap.servers": plain}) < 1:
            return 1
        sasl_conf = {
            "bootstrap.servers": sasl,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": user,
            "sasl.password": password,
        }
        return 0 if brokers(sasl_conf) >= 1 else 1
    except Exception as e:  # KafkaException while the broker starts
        print(f"kafka not ready yet: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
