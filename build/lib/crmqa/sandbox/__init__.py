"""crmqa.sandbox: a small reference CRM (REST API + server-rendered UI over SQLite) with a
catalogue of named, seeded faults.

- `python -m crmqa.sandbox` / `crmqa sandbox`: `crmqa.sandbox.__main__.main(argv) -> int`.
- `crmqa.sandbox.app.create_app(settings, on_started=None)`: the ASGI application.
- `crmqa.sandbox.faults`: `CATALOGUE`, `BY_NAME`, `FaultSet.active(name)`, `parse_fault_list`.
- `crmqa.sandbox.testing`: `running_sandbox(...)`, `SandboxHandle`, `SandboxClient`.

See docs/sandbox.md and the "Sandbox API contract" in docs/architecture.md.
"""
