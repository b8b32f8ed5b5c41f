#!/usr/bin/env python3
"""Send QMP commands to a running QEMU: the host half of a guest's request.

    qmp.py SOCKET REQUEST_FILE

REQUEST_FILE holds one QMP command per line (JSON, e.g. input-send-event); each is sent
after the capabilities handshake and its reply (or error) is printed, one line each.
Exit 1 when a command got an error or no reply.
"""
import json
import socket
import sys


def main() -> int:
    sock_path, req = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_path)
    f = s.makefile("rw")

    def reply():
        # Events (asynchronous messages) may come before a command's reply.
        while True:
            line = f.readline()
            if not line:
                return None
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return msg

    json.loads(f.readline())  # the greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    if reply() is None:
        print("no reply to qmp_capabilities")
        return 1
    rc = 0
    with open(req) as r:
        for line in r:
            line = line.strip()
            if not line:
                continue
            f.write(json.dumps(json.loads(line)) + "\n")
            f.flush()
            msg = reply()
            print(json.dumps(msg))
            if msg is None or "error" in msg:
                rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
