#!/usr/bin/env python3
"""Drives a real C# language server (csharp-ls) over LSP and checks that the CheckpointGen diagnostics appear in an editor session.

Usage: check-lsp.py <csharp-ls executable> <project folder> [pull|push]

Opens every .cs file of the project the way an editor does (initialize with analyzers enabled in the 'csharp' settings,
initialized, didOpen), collects the diagnostics the server publishes (textDocument/publishDiagnostics) or, for a pull client,
answers (textDocument/diagnostic), and compares the CKPT ones with the '// expect: <severity> <id>' comments of the files:
same line, id and severity, a help link to the id's page, nothing else. Then it edits Clean.cs (didChange) to add a
TorchSharp save of the model, which must be flagged in turn. Prints what it got and exits 0 when everything matched.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

TIMEOUT_SECONDS = int(os.environ.get("CHECK_LSP_TIMEOUT", "300"))
SEVERITIES = {1: "error", 2: "warning", 3: "info", 4: "hint"}
SETTINGS = {"csharp": {"analyzersEnabled": True}}
EXPECT = re.compile(r"// expect: (?P<severity>warning|error) (?P<id>CKPT\d{3})")


class Server:
    def __init__(self, command, folder):
        # The server's own log goes to CHECK_LSP_LOG when set.
        log = open(os.environ["CHECK_LSP_LOG"], "w") if os.environ.get("CHECK_LSP_LOG") else subprocess.DEVNULL
        self.process = subprocess.Popen(command, cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        self.next_id = 0
        self.responses = {}
        self.published = {}
        self.lock = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = json.loads(stream.read(int(headers["content-length"])))
            with self.lock:
                if "id" in body and "method" not in body:
                    self.responses[body["id"]] = body
                elif body.get("method") == "textDocument/publishDiagnostics":
                    self.published[body["params"]["uri"]] = body["params"]["diagnostics"]
                elif "id" in body and "method" in body:
                    # A request from the server. Its settings, as an editor holds them: csharp-ls runs analyzers only when asked
                    # to (csharp.analyzersEnabled, off by default). Anything else (client/registerCapability...) is acknowledged.
                    if body["method"] == "workspace/configuration":
                        result = [SETTINGS.get(item.get("section")) for item in body["params"]["items"]]
                    else:
                        result = None
                    self._send({"jsonrpc": "2.0", "id": body["id"], "result": result})
                self.lock.notify_all()

    def _send(self, message):
        data = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.process.stdin.flush()

    def request(self, method, params, timeout=TIMEOUT_SECONDS):
        with self.lock:
            self.next_id += 1
            request_id = self.next_id
            self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            deadline = time.time() + timeout
            while request_id not in self.responses:
                if not self.lock.wait(timeout=max(0.1, deadline - time.time())) and time.time() > deadline:
                    raise TimeoutError(method)
            return self.responses.pop(request_id)

    def notify(self, method, params):
        with self.lock:
            self._send({"jsonrpc": "2.0", "method": method, "params": params})


def expected_diagnostics(files):
    expected = set()
    for path, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                expected.add((os.path.basename(path), number, match["severity"], match["id"]))
    return expected


def checkpoint_diagnostics(path, diagnostics):
    found = set()
    for diagnostic in diagnostics:
        code = diagnostic.get("code")
        code = code.get("value") if isinstance(code, dict) else code
        if isinstance(code, str) and code.startswith("CKPT"):
            found.add((os.path.basename(path), diagnostic["range"]["start"]["line"] + 1, SEVERITIES.get(diagnostic.get("severity"), "?"), code))
    return found


def report(server, uris, pull, expected, started, when):
    """Waits until the server has every expected CKPT diagnostic (or the timeout), prints them, and says whether they match."""
    deadline = time.time() + TIMEOUT_SECONDS
    while True:
        pushed, pulled, links = set(), set(), set()
        for uri, path in uris.items():
            published = server.published.get(uri, [])
            pushed |= checkpoint_diagnostics(path, published)
            items = []
            if pull:
                items = (server.request("textDocument/diagnostic", {"textDocument": {"uri": uri}}).get("result") or {}).get("items", [])
                pulled |= checkpoint_diagnostics(path, items)
            links |= {d.get("codeDescription", {}).get("href", "") for d in published + items if str(d.get("code", "")).startswith("CKPT")}
        actual = pushed | pulled
        if expected <= actual or time.time() > deadline:
            break
        time.sleep(2)
    print(f"-- {when}: {len(actual & expected)} of {len(expected)} expected CKPT diagnostics, {len(actual - expected)} unexpected, after {time.time() - started:.0f} s"
          f" ({len(pushed)} in textDocument/publishDiagnostics, {len(pulled)} in textDocument/diagnostic)")
    for item in sorted(actual | expected):
        state = "ok      " if item in actual and item in expected else "MISSING " if item in expected else "EXTRA   "
        channels = "+".join(name for name, found in (("push", pushed), ("pull", pulled)) if item in found)
        print(f"{state} {item[0]}:{item[1]}: {item[2]} {item[3]}  [{channels}]")
    missing_links = {item[3] for item in actual if not any(link.endswith(f"/{item[3]}.md") for link in links)}
    if missing_links:
        print("no help link for: " + ", ".join(sorted(missing_links)))
    return actual == expected and not missing_links


def main():
    server_command, folder = sys.argv[1], os.path.abspath(sys.argv[2])
    # "pull": the client offers textDocument/diagnostic, as VS Code does; "push": it only listens to textDocument/publishDiagnostics.
    mode = sys.argv[3] if len(sys.argv) > 3 else "pull"
    files = {os.path.join(folder, name): open(os.path.join(folder, name), encoding="utf-8").read() for name in sorted(os.listdir(folder)) if name.endswith(".cs")}
    expected = expected_diagnostics(files)
    server = Server([server_command], folder)
    started = time.time()
    initialize = server.request("initialize", {
        "processId": os.getpid(),
        "rootUri": "file://" + urllib.request.pathname2url(folder),
        "workspaceFolders": [{"uri": "file://" + urllib.request.pathname2url(folder), "name": "user"}],
        "capabilities": {
            "workspace": {"configuration": True, "workspaceFolders": True},
            "textDocument": dict({"publishDiagnostics": {"relatedInformation": True}}, **({"diagnostic": {"dynamicRegistration": False}} if mode == "pull" else {})),
        },
    })
    server_info = initialize["result"].get("serverInfo", {})
    pull = mode == "pull" and "diagnosticProvider" in initialize["result"]["capabilities"]
    print(f"server: {server_info.get('name', '?')} {server_info.get('version', '')}; client asks for diagnostics (pull): {'yes' if pull else 'no, it listens to publishDiagnostics (push)'}")
    server.notify("initialized", {})
    uris = {}
    for path, text in files.items():
        uri = "file://" + urllib.request.pathname2url(path)
        uris[uri] = path
        server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "csharp", "version": 1, "text": text}})

    # The project loads and the analyzers run in the background: ask (pull) or listen (push) until every expected diagnostic is there.
    ok = report(server, uris, pull, expected, started, "on opening")

    # An edit, as typed in the editor: a TorchSharp save of the model appears in the clean file and must be flagged live.
    clean = next(path for path in files if os.path.basename(path) == "Clean.cs")
    edited = files[clean].replace("model.SaveCheckpoint(path);", "model.SaveCheckpoint(path);\n        model.save(path); // expect: warning CKPT021", 1)
    server.notify("textDocument/didChange", {
        "textDocument": {"uri": "file://" + urllib.request.pathname2url(clean), "version": 2},
        "contentChanges": [{"text": edited}],
    })
    files[clean] = edited
    ok = report(server, uris, pull, expected_diagnostics(files), time.time(), "after an edit") and ok

    try:
        server.request("shutdown", None, timeout=30)
        server.notify("exit", None)
    except Exception:
        pass
    server.process.kill()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
