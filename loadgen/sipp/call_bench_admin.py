#!/usr/bin/env python3
"""Admin API helper for call_bench.sh (stdlib only, one keep-alive connection).

  call_bench_admin.py setup ADMIN_ADDR AGENTS DID CSV   -> creates one early-media queue
      (wrap-up 0, reject delay 0), AGENTS sip_phone agents as its members and the DID, and
      writes the SIPp injection file for agent_register_bench.xml; prints the queue id.
  call_bench_admin.py stats ADMIN_ADDR QUEUE            -> one line of the queue's live figures
      (offered answered abandoned completed asa_ms agents_logged_in agents_ready)

The token comes from ACD_ADMIN_TOKEN. Any non-2xx answer stops with the problem body.
"""
import http.client
import json
import os
import sys


class Api:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.headers = {
            "Authorization": "Bearer " + os.environ["ACD_ADMIN_TOKEN"],
            "Content-Type": "application/json",
        }

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers=self.headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status // 100 != 2:
            sys.exit(f"{method} {path} -> {resp.status}: {raw.decode(errors='replace')}")
        return json.loads(raw) if raw else None


def setup(addr, agents, did, csv_path):
    api = Api(addr)
    queue = api.call("POST", "/api/v1/queues", {
        "name": "bench", "wrap_up_seconds": 0, "reject_delay_seconds": 0,
        "ring_timeout_seconds": 20, "early_media": True,
    })["id"]
    rows = ["SEQUENTIAL"]
    for i in range(agents):
        # A plain alphanumeric password: SIPp's [authentication ...] keyword in the CSV field
        # must not meet ';' (field separator), ']' or spaces.
        pw = f"benchpw{i:08d}"
        a = api.call("POST", "/api/v1/agents", {
            "username": f"bench{i:05d}", "first_name": "Bench", "last_name": f"Agent{i}",
            "typology": "sip_phone", "sip_password": pw,
        })
        api.call("PUT", f"/api/v1/queues/{queue}/members/{a['id']}", {})
        ext = a["extension"]
        rows.append(f"{ext};[authentication username={ext} password={pw}]")
    api.call("POST", "/api/v1/numbers", {"number": did, "target": {"type": "queue", "queue": queue}})
    with open(csv_path, "w") as f:
        f.write("\n".join(rows) + "\n")
    print(queue)


def stats(addr, queue):
    q = Api(addr).call("GET", f"/api/v1/queues/{queue}/stats")
    print(" ".join(str(q[k]) for k in (
        "offered", "answered", "abandoned", "completed", "asa_ms", "agents_logged_in",
        "agents_ready")))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "setup":
        setup(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "stats":
        stats(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
