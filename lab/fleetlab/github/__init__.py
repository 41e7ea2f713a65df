"""GitHub, played locally: the REST v3 calls PyGithub makes (users, repositories, deploy keys, contents, pull
requests, /meta), git over smart HTTP with real bare repositories, an SSH git endpoint that accepts only the
repository's deploy keys (for real source-controllers), Flux release downloads, and an Enterprise host reached
through an HTTPS proxy with its own CA (to rehearse `target: live`). Shared by the sandbox and the local stack.
"""
