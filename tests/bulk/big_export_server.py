#!/usr/bin/env python3
"""A Bulk Data $export server with one large Observation file, for measuring the memory of a bulk read
(tests/bulk/peak_rss.sh). Not a ctest: run by hand.

  big_export_server.py --port-file FILE --mb N [--gzip]

Serves on 127.0.0.1 (OS-chosen port, written to --port-file): GET /fhir/$export -> 202 + Content-Location,
GET /fhir/status/1 -> the manifest (10 Patients, and N MB of Observation lines with a code no criterion maps, so
the line filter skips them unparsed and the pipeline keeps nothing of them), GET /files/*.ndjson -> the files
(Content-Length, written 1 MiB at a time as generated, never held whole), DELETE -> 202.
"""
import argparse
import http.server
import json
import os
import socketserver
import zlib

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--mb", type=int, default=400)
ap.add_argument("--gzip", action="store_true", help="serve the Observation file with Content-Encoding: gzip")
a = ap.parse_args()

PATIENTS = 10


def patient(i):
    return json.dumps({"resourceType": "Patient", "id": f"bp-{i}",
                       "meta": {"versionId": "1", "lastUpdated": "2026-11-20T02:00:00Z"},
                       "gender": "female", "birthDate": "1980-01-01"}) + "\n"


def observation(i):
    return json.dumps({"resourceType": "Observation", "id": f"bo-{i:09d}",
                       "meta": {"versionId": "1", "lastUpdated": "2026-11-20T02:00:00Z"}, "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                       "subject": {"reference": f"Patient/bp-{i % PATIENTS}"},
                       "effectiveDateTime": "2026-11-01T08:00:00Z",
                       "valueQuantity": {"value": 72, "unit": "/min"}}) + "\n"


LINE = len(observation(0))  # every line has the same length (the id is zero-padded)
OBS = a.mb * 1024 * 1024 // LINE
PATIENT_BODY = "".join(patient(i) for i in range(PATIENTS)).encode()


def observation_blocks():
    block = []
    size = 0
    for i in range(OBS):
        line = observation(i)
        block.append(line)
        size += len(line)
        if size >= 1 << 20:
            yield "".join(block).encode()
            block, size = [], 0
    if block:
        yield "".join(block).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_DELETE(self):
        self.reply(202)

    def do_GET(self):
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/fhir/$export"):
            self.reply(202, headers=[("Content-Location", f"{base}/fhir/status/1")])
        elif self.path == "/fhir/status/1":
            m = {"transactionTime": "2026-11-26T01:00:00Z", "request": f"{base}/fhir/$export",
                 "requiresAccessToken": False, "error": [],
                 "output": [{"type": "Patient", "url": f"{base}/files/Patient.ndjson", "count": PATIENTS},
                            {"type": "Observation", "url": f"{base}/files/Observation.ndjson", "count": OBS}]}
            self.reply(200, json.dumps(m).encode(), [("Content-Type", "application/json")])
        elif self.path == "/files/Patient.ndjson":
            self.reply(200, PATIENT_BODY, [("Content-Type", "application/fhir+ndjson")])
        elif self.path == "/files/Observation.ndjson":
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+ndjson")
            if a.gzip:
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                z = zlib.compressobj(6, zlib.DEFLATED, 31)
                for block in observation_blocks():
                    data = z.compress(block)
                    if data:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                data = z.flush()
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            else:
                self.send_header("Content-Length", str(OBS * LINE))
                self.end_headers()
                for block in observation_blocks():
                    self.wfile.write(block)
        else:
            self.reply(404, b"no such path")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


with Server(("127.0.0.1", 0), Handler) as s:
    with open(a.port_file + ".tmp", "w") as f:
        f.write(f"{s.server_address[1]}\n")
    os.rename(a.port_file + ".tmp", a.port_file)
    s.serve_forever()
