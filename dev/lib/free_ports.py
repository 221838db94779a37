"""Print N distinct free TCP ports on 127.0.0.1, one per line.

All sockets are held open until every port is chosen, so the N ports differ.
Used by dev/stack at the first `up` of a state directory.
"""

import socket
import sys


def main() -> None:
    count = int(sys.argv[1])
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        for s in held:
            print(s.getsockname()[1])
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    main()
