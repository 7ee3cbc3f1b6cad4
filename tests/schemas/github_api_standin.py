#!/usr/bin/env python3
"""A stand-in for the GitHub REST API, for the tests of `policy ci --comment`.

It holds the comments of one pull request in memory and serves the three operations the
command uses. Every request is checked against GitHub's published REST description (the
`@octokit/openapi` npm package, `api.github.com.deref.json`): the method and path must be an
operation of it, path and query parameters must match their schemas, the headers GitHub asks
for must be there, and a JSON body must validate against the operation's request schema. Every
answer it sends validates against the operation's response schema. A request that fails a check
gets 400 and is recorded as a violation.

Usage: python3 tests/schemas/github_api_standin.py REST_DESCRIPTION LOG_FILE [--forbid]
  prints the port it listens on (127.0.0.1) as its first line once it listens
  LOG_FILE   gets one JSON line per request: method, path, operation, violations, status
  --forbid   answer every write with 403, as GitHub does for a token without
             `pull-requests: write`
It stops by itself after 120 s.
"""

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema

spec_path, log_file = sys.argv[1:3]
forbid = "--forbid" in sys.argv[3:]
spec = json.load(open(spec_path))

# Each operation: method, a regex of its path template, the template's parameter names.
operations = []
for template, item in spec["paths"].items():
    names = re.findall(r"{([^}]+)}", template)
    pattern = "^" + re.sub(r"{[^}]+}", "([^/]+)", template) + "$"
    for method, op in item.items():
        if method in ("get", "post", "patch", "put", "delete"):
            operations.append((method.upper(), re.compile(pattern), names, op))

comments = {}  # id -> comment
next_id = [1000]
lock = threading.Lock()
log = open(log_file, "a", buffering=1)


def coerce(value, schema):
    """A path or query value as its schema's type."""
    if schema.get("type") == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    return value


def comment(cid, body, number):
    user = {
        "login": "github-actions[bot]", "id": 41898282, "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4", "gravatar_id": "",
        "url": "https://api.github.com/users/github-actions%5Bbot%5D",
        "html_url": "https://github.com/apps/github-actions",
        "followers_url": "https://api.github.com/users/github-actions%5Bbot%5D/followers",
        "following_url": "https://api.github.com/users/github-actions%5Bbot%5D/following{/other_user}",
        "gists_url": "https://api.github.com/users/github-actions%5Bbot%5D/gists{/gist_id}",
        "starred_url": "https://api.github.com/users/github-actions%5Bbot%5D/starred{/owner}{/repo}",
        "subscriptions_url": "https://api.github.com/users/github-actions%5Bbot%5D/subscriptions",
        "organizations_url": "https://api.github.com/users/github-actions%5Bbot%5D/orgs",
        "repos_url": "https://api.github.com/users/github-actions%5Bbot%5D/repos",
        "events_url": "https://api.github.com/users/github-actions%5Bbot%5D/events{/privacy}",
        "received_events_url": "https://api.github.com/users/github-actions%5Bbot%5D/received_events",
        "type": "Bot", "site_admin": False,
    }
    return {
        "id": cid, "node_id": f"IC_{cid}",
        "url": f"https://api.github.com/repos/o/r/issues/comments/{cid}",
        "html_url": f"https://github.com/o/r/pull/{number}#issuecomment-{cid}",
        "body": body, "user": user,
        "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z",
        "issue_url": f"https://api.github.com/repos/o/r/issues/{number}",
        "author_association": "NONE",
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def handle_one(self, method):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        violations = []
        found = None
        for m, rx, names, op in operations:
            hit = rx.match(path)
            if m == method and hit:
                found = (op, dict(zip(names, hit.groups())))
                break
        if not found:
            return self.finish_one(method, path, None, [f"no operation {method} {path}"], 404, {"message": "Not Found"})
        op, values = found
        params = {p["name"]: p for p in op.get("parameters", [])}
        for name, value in values.items():
            try:
                jsonschema.validate(coerce(value, params[name]["schema"]), params[name]["schema"])
            except jsonschema.ValidationError as e:
                violations.append(f"path parameter {name}: {e.message}")
        for pair in filter(None, query.split("&")):
            name, _, value = pair.partition("=")
            p = params.get(name)
            if not p or p["in"] != "query":
                violations.append(f"query parameter {name} is not one of the operation's")
                continue
            try:
                jsonschema.validate(coerce(value, p["schema"]), p["schema"])
            except jsonschema.ValidationError as e:
                violations.append(f"query parameter {name}: {e.message}")
        if not (self.headers.get("authorization") or "").startswith(("Bearer ", "token ")):
            violations.append("no Authorization: Bearer token")
        if not self.headers.get("user-agent"):
            violations.append("no User-Agent (GitHub refuses requests without one)")
        if "application/vnd.github+json" not in (self.headers.get("accept") or ""):
            violations.append("Accept is not application/vnd.github+json")
        body = None
        if "requestBody" in op:
            if "application/json" not in (self.headers.get("content-type") or ""):
                violations.append("Content-Type is not application/json")
            try:
                body = json.loads(raw)
                jsonschema.validate(body, op["requestBody"]["content"]["application/json"]["schema"])
            except (ValueError, jsonschema.ValidationError) as e:
                violations.append(f"request body: {getattr(e, 'message', e)}")
        elif raw:
            violations.append("a body on an operation that takes none")
        if violations:
            return self.finish_one(method, path, op, violations, 400, {"message": "; ".join(violations)})

        oid = op["operationId"]
        if forbid and method != "GET":
            return self.finish_one(method, path, op, [], 403, {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
            })
        with lock:
            if oid == "issues/list-comments":
                number = int(values["issue_number"])
                per_page = int(dict(p.partition("=")[::2] for p in query.split("&") if p).get("per_page", 30))
                page = int(dict(p.partition("=")[::2] for p in query.split("&") if p).get("page", 1))
                mine = [c for c in comments.values() if c["issue_url"].endswith(f"/issues/{number}")]
                status, answer = 200, mine[(page - 1) * per_page: page * per_page]
            elif oid == "issues/create-comment":
                next_id[0] += 1
                c = comment(next_id[0], body["body"], int(values["issue_number"]))
                comments[c["id"]] = c
                status, answer = 201, c
            elif oid == "issues/update-comment":
                c = comments.get(int(values["comment_id"]))
                if c is None:
                    return self.finish_one(method, path, op, [], 404, {"message": "Not Found"})
                c["body"] = body["body"]
                c["updated_at"] = "2026-12-07T10:05:00Z"
                status, answer = 200, c
            else:
                return self.finish_one(method, path, op, [f"{oid} is not served here"], 501, {"message": "not served"})
        schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
        jsonschema.validate(answer, schema)  # the stand-in's own answers are GitHub's shape
        self.finish_one(method, path, op, [], status, answer)

    def finish_one(self, method, path, op, violations, status, answer):
        entry = {
            "method": method, "path": self.path, "operation": op and op["operationId"],
            "violations": violations, "status": status,
        }
        if isinstance(answer, dict) and "body" in answer:
            entry["comment_id"] = answer["id"]
            entry["body_length"] = len(answer["body"])
        log.write(json.dumps(entry) + "\n")
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def do_PATCH(self):
        self.handle_one("PATCH")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Timer(120, server.shutdown).start()
print(server.server_address[1], flush=True)
server.serve_forever()
