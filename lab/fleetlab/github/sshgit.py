"""The sandbox GitHub's SSH git endpoint, for real Flux controllers: `ssh://git@github.com/<owner>/<repo>`
reaches it through the SOCKS proxy, it presents the host keys GitHub's `/meta` publishes (so the
`known_hosts` the bootstrap wrote is what source-controller checks), accepts only deploy keys registered
for the repository asked for (read-only keys cannot push), and serves `git-upload-pack` and
`git-receive-pack` from the same bare repositories the REST API and git over HTTPS use. Messages are
GitHub's ("Permission denied (publickey)", "ERROR: Repository not found.").

    server = SshGitServer(("127.0.0.1", 0), hub)
    serve_in_thread(server, "ssh")
"""

from __future__ import annotations

import logging
import os
import re
import socketserver
import subprocess
import threading
from typing import Any

import paramiko
from paramiko.common import AUTH_FAILED, AUTH_SUCCESSFUL, OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED, OPEN_SUCCEEDED

from fleetlab.github.hub import Hub, HubError

log = logging.getLogger(__name__)
_COMMAND = re.compile(r"^(git-upload-pack|git-receive-pack|git-upload-archive) '?/?([^'/\s]+)/([^'/\s]+?)(?:\.git)?/?'?$")


def _key_text(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class _Server(paramiko.ServerInterface):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.key: str | None = None
        self.command: bytes | None = None
        self.env: dict[str, str] = {}
        self.ready = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        offered = _key_text(key)
        known = {" ".join(str(row[0]).split()[:2]) for row in self.hub.db().execute("SELECT key FROM keys")}
        if username != "git" or offered not in known:
            return AUTH_FAILED
        self.key = offered
        return AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return OPEN_SUCCEEDED if kind == "session" else OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        if name == b"GIT_PROTOCOL":
            self.env["GIT_PROTOCOL"] = value.decode()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.command = command
        self.ready.set()
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.command = b""
        self.ready.set()
        return True


class SshGitServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: Hub) -> None:
        super().__init__(address, SshGitHandler)
        self.hub = hub
        self.host_keys = [paramiko.Ed25519Key.from_private_key_file(str(hub.root / "ssh_host_ed25519_key")),
                          paramiko.ECDSAKey.from_private_key_file(str(hub.root / "ssh_host_ecdsa_key"))]


class SshGitHandler(socketserver.BaseRequestHandler):
    server: SshGitServer

    def handle(self) -> None:
        transport = paramiko.Transport(self.request)
        for key in self.server.host_keys:
            transport.add_server_key(key)
        server = _Server(self.server.hub)
        try:
            transport.start_server(server=server)
            channel = transport.accept(30)
            if channel is None or not server.ready.wait(30):
                return
            self._serve(channel, server)
        except (paramiko.SSHException, EOFError, OSError) as e:
            log.debug("ssh git: %s", e)
        finally:
            transport.close()

    def _deny(self, channel: paramiko.Channel, message: str) -> None:
        channel.sendall_stderr(message.encode())
        channel.send_exit_status(1)
        channel.close()

    def _serve(self, channel: paramiko.Channel, server: _Server) -> None:
        hub = self.server.hub
        command = (server.command or b"").decode(errors="replace").strip()
        m = _COMMAND.match(command)
        if not m:
            self._deny(channel, "Hi there! You've successfully authenticated, but GitHub does not provide shell "
                                "access.\n")
            return
        verb, owner, name = m.groups()
        try:
            keys = hub.keys(owner, name)
        except HubError:
            self._deny(channel, "ERROR: Repository not found.\nfatal: Could not read from remote repository.\n")
            return
        match = next((k for k in keys if " ".join(str(k["key"]).split()[:2]) == server.key), None)
        if match is None:
            self._deny(channel, "ERROR: Repository not found.\nfatal: Could not read from remote repository.\n")
            return
        if verb == "git-receive-pack" and match["read_only"]:
            self._deny(channel, "ERROR: The key you are authenticating with has been marked as read only.\n"
                                "fatal: Could not read from remote repository.\n")
            return
        path = hub.repo_path(owner, name)
        proc = subprocess.Popen(["git", verb.removeprefix("git-"), str(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, **server.env})
        pumps = [threading.Thread(target=_copy_out, args=(proc.stdout, channel.sendall), daemon=True),
                 threading.Thread(target=_copy_out, args=(proc.stderr, channel.sendall_stderr), daemon=True),
                 threading.Thread(target=_copy_in, args=(channel, proc), daemon=True)]
        for t in pumps:
            t.start()
        code = proc.wait()
        for t in pumps[:2]:
            t.join(30)
        channel.send_exit_status(code)
        channel.close()


def _copy_out(stream: Any, send: Any) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        send(chunk)


def _copy_in(channel: paramiko.Channel, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    try:
        while True:
            data = channel.recv(65536)
            if not data:
                break
            proc.stdin.write(data)
            proc.stdin.flush()
    except (OSError, ValueError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
