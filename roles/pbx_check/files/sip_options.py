#!/usr/bin/python3
"""Send one SIP OPTIONS over UDP and print the status code and Server header as JSON.

Runs on the PBX host itself (ansible.builtin.script) so that plain ansible-playbook checks
the PBX with real SIP too. Usage: sip_options.py ADDRESS [PORT] [TIMEOUT]
"""
import json
import random
import socket
import sys

addr = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 5060
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
tag = "%08x" % random.getrandbits(32)
branch = "z9hG4bK" + "%016x" % random.getrandbits(64)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((addr, 0))
local = sock.getsockname()
msg = (
    f"OPTIONS sip:{addr}:{port} SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch={branch};rport\r\n"
    "Max-Forwards: 70\r\n"
    f"From: <sip:pbxops@{local[0]}>;tag={tag}\r\n"
    f"To: <sip:{addr}:{port}>\r\n"
    f"Call-ID: {tag}-selfcheck@{local[0]}\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Accept: application/sdp\r\n"
    "Content-Length: 0\r\n\r\n"
)
result = {"status": 0, "server": ""}
for attempt in range(3):
    sock.sendto(msg.encode(), (addr, port))
    sock.settimeout(timeout)
    try:
        data, _ = sock.recvfrom(65535)
    except socket.timeout:
        continue
    lines = data.decode(errors="replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    result["status"] = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("server", "user-agent"):
            result["server"] = value.strip()
    break
print(json.dumps(result))
