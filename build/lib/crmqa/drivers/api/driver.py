"""The API driver: canonical operations (`OpStep`) through the profile, raw `RequestStep`s as given.

One driver per engine (target x worker); one `ApiSession` per identity, reused by every case,
so connections stay open and logins happen once.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from crmqa.core.errors import EnvironmentProblem
from crmqa.core.results import Attachment
from crmqa.drivers.api.auth import configure
from crmqa.drivers.api.mapping import field_errors
from crmqa.drivers.api.operations import CONVERT_CREATES, OperationError, OperationRunner
from crmqa.drivers.api.redaction import Redactor
from crmqa.drivers.api.session import ApiSession, Exchange
from crmqa.drivers.base import StepContext, StepOutput
from crmqa.drivers.registry import DriverEnvironment, StepDefect
from crmqa.plan.files import find_data_file, missing_file_message, search_folders
from crmqa.plan.models import OpStep, RequestStep
from crmqa.profiles.adapter import OperationCall, OperationResult, ProfileAdapter, load_adapter
from crmqa.profiles.capabilities import field_capability
from crmqa.profiles.models import ApiKeyAuth, BearerAuth, NoEquivalent
from crmqa.profiles.needs import fields_read
from crmqa.profiles.target import ANONYMOUS, ResolvedTarget
from crmqa.profiles.templates import common_context, names_read


class StepArgumentError(StepDefect):
    """A step's rendered arguments do not fit (a test defect); the engine reports it as such."""


class ApiDriver:
    """Runs `OpStep` and `RequestStep` against one target."""

    name = "api"

    def __init__(self, env: DriverEnvironment) -> None:
        self.env = env
        self.target: ResolvedTarget = env.target
        self.profile = env.target.profile
        self.runner = OperationRunner(self.profile, env.base_dir)
        # Header or parameter names this profile uses for secrets, beyond the usual ones.
        extra_names: list[str] = []
        auth = self.profile.auth
        if isinstance(auth, ApiKeyAuth | BearerAuth):
            extra_names.append(auth.name if isinstance(auth, ApiKeyAuth) else auth.header)
        use = getattr(auth, "use", None)
        if use is not None:
            extra_names.append(use.query_param or use.header)
        # Headers and parameters filled from the environment may carry a tenant key: hidden.
        for name, value in (*self.profile.headers.items(), *self.profile.params.items()):
            if isinstance(value, str) and "env" in names_read(value):
                extra_names.append(name)
        self.redactor = Redactor(self.target.secrets(), extra_names)
        self._sessions: dict[str, ApiSession] = {}
        self._adapter: ProfileAdapter | None = None
        self._adapter_loaded = False

    # ------------------------------------------------------------------ protocol

    def handles(self, step: Any) -> bool:
        return isinstance(step, OpStep | RequestStep)

    def needs(self, step: Any) -> list[str]:
        return [step.op] if isinstance(step, OpStep) else []

    def run(self, step: Any, ctx: StepContext) -> StepOutput:
        """Perform one step; raises EnvironmentProblem when the CRM cannot be used."""
        exchanges: list[Exchange] = []
        identity = step.as_ or self.target.default_identity
        try:
            if isinstance(step, OpStep):
                output = self._run_op(step, identity, ctx, exchanges)
            else:
                output = self._run_request(step, identity, exchanges)
        finally:
            self._keep_evidence(ctx, exchanges)
        if exchanges:
            output.summary = exchanges[-1].summary()
        return output

    def probe(self) -> None:
        """Before the first step: the CRM answers its health check and lets the default
        identity in. Raises `EnvironmentProblem` naming what did not work, so that a CRM that
        is not there, or a profile whose auth does not fit it, stops the run as an
        environment problem instead of producing product defects."""
        if self.profile.health_path:
            exchange = self.session(ANONYMOUS).send(
                "GET", self.profile.health_path, authenticate=False)
            status = exchange.response.status_code if exchange.response is not None else None
            if status is None or not 200 <= status < 300:
                raise EnvironmentProblem(
                    f"the target does not answer its health check: {exchange.summary()}")
        identity = self.target.default_identity
        if identity == ANONYMOUS or self.profile.auth.scheme == "none":
            return
        session = self.session(identity)
        if session.before_send is not None:
            session.before_send(session)  # logs in, as the first request would

    def can_delete(self, entity: str) -> bool:
        """True when the profile deletes `entity` records through the API."""
        return self.profile.supports(f"{entity}.delete")

    def cleanup(self, entity: str, record_id: Any, identity: str) -> None:
        """Delete a record a case created, as `identity`; a record already gone is fine."""
        if not self.can_delete(entity):
            raise EnvironmentProblem(
                f"profile {self.profile.name!r} has no {entity}.delete to delete it with")
        call = OperationCall(entity=entity, operation="delete", args={"id": record_id},
                             identity=identity)
        result = self._perform(call, self.session(identity), None)
        if result.outcome not in ("ok", "not_found"):
            raise EnvironmentProblem(
                f"deleting it as {identity!r} answered {result.outcome} (HTTP {result.status})"
            )

    def find_created(self, entity: str, values: dict[str, str],
                     identity: str) -> list[Any] | None:
        """Ids of the `entity` records holding every one of `values` (as text, any case).

        Searches by each value in turn (the profile's `<entity>.search`), else walks the list;
        None when the profile can do neither.
        """
        wanted = [text for text in (_text(v) for v in values.values()) if text]
        if self.profile.supports(f"{entity}.search"):
            queries: list[tuple[str, dict[str, Any]]] = [
                ("search", {"query": value}) for value in values.values()]
        elif self.profile.supports(f"{entity}.list"):
            queries = [("list", {"all": True})]
        else:
            return None
        session = self.session(identity)
        for operation, args in queries:
            call = OperationCall(entity=entity, operation=operation, args=args,
                                 identity=identity)
            result = self._perform(call, session, None)
            if result.outcome != "ok":
                raise EnvironmentProblem(
                    f"looking it up with {entity}.{operation} answered {result.outcome} "
                    f"(HTTP {result.status})")
            found = [record["id"] for record in result.records or []
                     if isinstance(record, dict) and record.get("id") is not None
                     and _holds(record, wanted)]
            if found:
                return found
        return []

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    # ------------------------------------------------------------------ sessions

    def session(self, identity: str) -> ApiSession:
        """The identity's session, created (and configured for auth) on first use."""
        session = self._sessions.get(identity)
        if session is None:
            ident = self.target.identity(identity)
            session = ApiSession(
                self.target.base_url, identity, self.redactor, self.target.timeout_s,
                verify_tls=self.target.target.verify_tls,
            )
            session.template_context = common_context(
                self.target.environment, {"name": self.target.name, "base_url": session.base_url},
                {"name": identity, "username": ident.username})
            session.default_headers = dict(self.profile.headers)
            session.default_params = dict(self.profile.params)
            if identity != ANONYMOUS:
                configure(session, self.profile.auth, ident)
            self._sessions[identity] = session
        return session

    # ------------------------------------------------------------------ steps

    def _run_op(self, step: OpStep, identity: str, ctx: StepContext,
                exchanges: list[Exchange]) -> StepOutput:
        entity, operation = step.op.split(".", 1)
        self._refuse_fields_without_equivalent(step, entity)
        call = OperationCall(entity=entity, operation=operation, args=dict(step.with_),
                             identity=identity)
        session = self.session(identity)
        session.sink = exchanges.append
        try:
            result = self._perform(call, session, step.timeout_s)
        except OperationError as exc:
            raise StepArgumentError(f"{step.op}: {exc}") from None
        finally:
            session.sink = None
        for record_id in result.created_ids:
            ctx.track_created(entity, record_id, identity)
        if operation == "convert" and result.outcome == "ok" and result.record:
            for key, created_entity in CONVERT_CREATES.items():
                if result.record.get(key) is not None:
                    ctx.track_created(created_entity, result.record[key], identity)
        data: dict[str, Any] = {
            "outcome": result.outcome,
            "status": result.status,
            "record": result.record,
            "records": result.records,
            "total": result.total,
            "field_errors": result.field_errors,
            "count": len(result.records) if result.records is not None else None,
        }
        data.update(result.extra)
        last = exchanges[-1] if exchanges else None
        return StepOutput(
            data=data,
            outcome=result.outcome,
            status=result.status,
            headers=dict(last.response.headers) if last and last.response is not None else {},
            elapsed_ms=sum(e.elapsed_ms for e in exchanges),
            field_errors=result.field_errors,
        )

    def _refuse_fields_without_equivalent(self, step: OpStep, entity: str) -> None:
        """A step that filters, sorts on or reads back a field the product has no equivalent
        for cannot be asked of it (the engine decides this before the run for what is written
        out; templates are only known now). Writes of such fields are left out instead."""
        for name in fields_read(step):
            reason = self.profile.unsupported_reason(field_capability(entity, name))
            if reason is not None:
                raise NoEquivalent(f"{step.op}: {entity}.{name}: {reason} "
                                   f"(profile {self.profile.name!r})")

    def perform(self, call: OperationCall, session: ApiSession,
                timeout_s: float | None = None) -> OperationResult:
        """Perform one canonical operation through the adapter (if any) or the profile.

        Raises `OperationError` when the arguments do not fit the operation, `NoEquivalent`
        when the product cannot be asked it, `EnvironmentProblem` when the CRM cannot be used.
        """
        return self._perform(call, session, timeout_s)

    def _perform(self, call: OperationCall, session: ApiSession,
                 timeout_s: float | None) -> OperationResult:
        adapter = self._get_adapter()
        if adapter is not None:
            adapted = adapter.perform(call, session)
            if adapted is not None:
                return adapted
        return self.runner.perform(call, session, timeout_s)

    def _get_adapter(self) -> ProfileAdapter | None:
        if not self._adapter_loaded:
            self._adapter = load_adapter(self.profile)
            self._adapter_loaded = True
        return self._adapter

    def _run_request(self, step: RequestStep, identity: str,
                     exchanges: list[Exchange]) -> StepOutput:
        req = step.request
        session = self.session(identity if req.auth else ANONYMOUS)
        files = None
        opened: list[Any] = []
        if req.files:
            files = {}
            folders = search_folders(self.env.base_dir)
            for field, name in req.files.items():
                path = find_data_file(name, folders)
                if path is None:
                    raise StepArgumentError(f"request file: {missing_file_message(name, folders)}")
                handle = path.open("rb")
                opened.append(handle)
                files[field] = (path.name, handle,
                                mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        session.sink = exchanges.append
        try:
            exchange = session.send(
                req.method, req.path, params=req.params or None, json=req.json_,
                data=req.data, files=files, headers=req.headers or None,
                timeout_s=step.timeout_s,
            )
        finally:
            session.sink = None
            for handle in opened:
                handle.close()
        response = exchange.response
        assert response is not None
        try:
            data: Any = response.json() if response.content else None
        except ValueError:
            data = {"text": response.text}
        outcome = self.profile.outcome_for(
            response.status_code, body=data, anonymous=session.identity == ANONYMOUS,
        ).value
        body_errors = data if isinstance(data, dict | list) else None
        errors = field_errors(self.profile.errors, None, body_errors) if (
            response.status_code >= 400) else {}
        return StepOutput(
            data=data,
            outcome=outcome,
            status=response.status_code,
            headers=dict(response.headers),
            elapsed_ms=exchange.elapsed_ms,
            field_errors=errors,
        )

    # ------------------------------------------------------------------ evidence

    def _keep_evidence(self, ctx: StepContext, exchanges: list[Exchange]) -> None:
        if not exchanges or self.env.evidence == "off":
            return
        keep = getattr(ctx, "keep_evidence", None)
        for number, exchange in enumerate(exchanges, 1):
            name = f"{number}. {exchange.summary()}" if len(exchanges) > 1 else exchange.summary()
            if keep is not None:
                keep(name, exchange.render, "text/plain")  # rendered only if kept
            else:
                attachments = getattr(ctx, "attachments", None)
                if isinstance(attachments, list):
                    attachments.append(Attachment(name=name, text=exchange.render()))


def _text(value: Any) -> str:
    return str(value).strip().casefold()


def _holds(record: dict[str, Any], wanted: list[str]) -> bool:
    """True when every wanted text is the value of some field of the record."""
    texts = {_text(v) for v in record.values() if v is not None and not isinstance(v, dict | list)}
    return all(text in texts for text in wanted)


def create_api_driver(env: DriverEnvironment) -> ApiDriver:
    """The registry's factory for the API driver."""
    return ApiDriver(env)
