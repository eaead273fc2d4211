"""The plan's `migration:` section: where the old data is, where it went, and how it maps.

```yaml
migration:
  source:
    lead: {file: ../fixtures/migration/legacy_leads.csv, key: LegacyId}
  target:
    lead: {from: crm, key: email}           # read through the target's profile
  mapping:
    lead:
      first_name: {from: FirstName, transform: [trim]}
      email: {from: Email, transform: [trim, lower]}
      status: {from: Status, map: {Open: new, Working: contacted}}
      notes: {from: Notes}
  quality:
    lead: {email: Email, phone: Phone, duplicates: [Email]}
```

A side may also be a table (or a query) of a PostgreSQL or MySQL/MariaDB database; its
credentials come from environment variables only:

```yaml
    lead:
      database: {engine: postgresql, host: legacy-db, name: crm,
                 user_env: LEGACY_DB_USER, password_env: LEGACY_DB_PASSWORD}
      table: public.leads                   # or sql: "SELECT ... FROM leads JOIN ..."
      key: LegacyId
```

Every key is validated like the rest of the plan (unknown keys, wrong types, positions); files
and columns are checked by the migration step check before anything runs (crmqa.validation).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from crmqa.plan.steps import Strict

SourceFormat = Literal["csv", "tsv", "parquet", "xlsx", "sqlite", "json"]
DatabaseEngine = Literal["postgresql", "mysql", "mariadb"]


class DatabaseConnection(Strict):
    """A PostgreSQL or MySQL/MariaDB server to read from. The plan names where it is; who
    logs in, and with what password, only ever comes from environment variables."""

    engine: DatabaseEngine = Field(description="postgresql, mysql or mariadb")
    url_env: str | None = Field(
        None, description="an environment variable holding the whole connection URL "
        "(postgresql://user:password@host:5432/name, mysql://user:password@host:3306/name); "
        "instead of host, port, name, user_env and password_env",
    )
    host: str | None = Field(None, description="the server's host name or address")
    port: int | None = Field(None, ge=1, le=65535,
                             description="default: 5432 (PostgreSQL), 3306 (MySQL)")
    name: str | None = Field(None, description="the database to read")
    user_env: str | None = Field(None, description="environment variable holding the user name")
    password_env: str | None = Field(None,
                                     description="environment variable holding the password")
    connect_timeout: int = Field(10, ge=1, le=300, description="seconds to wait for the server")

    @model_validator(mode="after")
    def _one_way_in(self) -> DatabaseConnection:
        if (self.url_env is None) == (self.host is None):
            raise ValueError("a database needs exactly one of `url_env` or `host`")
        if self.url_env is not None and any(
                value is not None for value in (self.port, self.name, self.user_env,
                                                self.password_env)):
            raise ValueError("`url_env` holds the whole connection: port, name, user_env and "
                             "password_env go with `host`")
        return self


class _Extract(Strict):
    """Where a side's rows are: a file, or a table or query of a database."""

    file: str | None = Field(None, description="path, relative to the plan's folder or a "
                             "parent of it")
    database: DatabaseConnection | None = Field(
        None, description="a PostgreSQL or MySQL/MariaDB database (give `table` or `sql`)")
    format: SourceFormat | None = Field(None, description="default: from the file's suffix")
    table: str | None = Field(
        None, description="the SQLite table or XLSX sheet to read; with `database`, the table "
        "(`schema.table` for another schema)")
    sql: str | None = Field(None, description="with `database`: a SELECT whose rows are read "
                            "instead of a table")
    encoding: str = Field("utf-8", description="text encoding of a CSV/TSV file")
    delimiter: str | None = Field(None, description="CSV delimiter (default: detected)")

    def _check_database(self) -> None:
        if self.database is not None:
            if self.file is not None:
                raise ValueError("give `file` or `database`, not both")
            if (self.table is None) == (self.sql is None):
                raise ValueError("a database side needs exactly one of `table` or `sql`")
        elif self.sql is not None:
            raise ValueError("`sql` reads from a `database`")


class SourceTable(_Extract):
    """The legacy rows: a CSV/TSV/Parquet/JSON file, an XLSX sheet, a SQLite table, or a table
    or query of a PostgreSQL or MySQL database."""

    key: str | list[str] = Field(description="the column(s) that identify a record")

    @model_validator(mode="after")
    def _one_place(self) -> SourceTable:
        if (self.file is None) == (self.database is None):
            raise ValueError("a source needs exactly one of `file` or `database`")
        self._check_database()
        return self

    @property
    def keys(self) -> list[str]:
        return [self.key] if isinstance(self.key, str) else list(self.key)


class TargetTable(_Extract):
    """Where the migrated records are read back: through the CRM, or from an extract."""

    from_: Literal["crm"] | None = Field(
        None, alias="from",
        description="`crm`: read through the target's profile (`via` says how); omit it and "
        "give `file` or `database` for an extract the vendor delivers",
    )
    key: str | list[str] = Field(
        description="the canonical field(s) holding the source key after the mapping"
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> column of the extract"
    )
    query: str | None = Field(
        None, description="`from: crm`: only the records this search finds (the migrated ones)"
    )
    filters: dict[str, Any] = Field(
        default_factory=dict, description="`from: crm`: only records with these field values"
    )
    via: Literal["list", "export"] = Field(
        "list", description="`from: crm`: `list` walks every page of the entity's list (its "
        "search, with `query` or `filters`); `export` reads the CRM's export in one answer "
        "(the profile's `export:`)"
    )
    page_size: int | None = Field(
        None, ge=1, description="`from: crm`, `via: list`: records per page (default: the "
        "product's own); the profile's max_pages bounds the pages, so a large migration asks "
        "for large pages"
    )

    @model_validator(mode="after")
    def _one_place(self) -> TargetTable:
        if sum(place is not None for place in (self.from_, self.file, self.database)) != 1:
            raise ValueError("a target needs exactly one of `from: crm`, `file` or `database`")
        if self.from_ is None:
            given = [name for name, value in (("query", self.query), ("filters", self.filters),
                                              ("via", self.via != "list"),
                                              ("page_size", self.page_size)) if value]
            if given:
                raise ValueError(f"{', '.join(given)}: only for a target read `from: crm`, "
                                 "not from an extract")
        if self.via == "export" and self.page_size is not None:
            raise ValueError("page_size: an export comes in one answer; pages are for "
                             "`via: list`")
        self._check_database()
        return self

    @property
    def keys(self) -> list[str]:
        return [self.key] if isinstance(self.key, str) else list(self.key)


Transform = Annotated[
    Literal["trim", "lower", "upper", "collapse_spaces", "phone", "digits", "empty_as_null"]
    | dict[str, Any],
    Field(description="trim, lower, upper, collapse_spaces, phone, digits, empty_as_null, or "
          "{date: '<strptime format>'}, {timezone: {from: Europe/Moscow, to: UTC}}, "
          "{truncate: 255}, {replace: {pattern: '...', with: '...'}}"),
]


class FieldMapping(Strict):
    """How one canonical field is made from the source record."""

    from_: str | None = Field(None, alias="from", description="the source column")
    concat: list[str] | None = Field(None, description="source columns joined with `sep`")
    sep: str = Field(" ", description="separator for `concat`")
    split: int | None = Field(
        None, ge=1, description="take this part (1-based) of the `from` column split at `sep`"
    )
    value: Any = Field(None, description="a constant value instead of a column")
    transform: list[Transform] = Field(default_factory=list, description="applied in order")
    map: dict[str, Any] | None = Field(
        None, description="source value -> canonical value (picklists: status, source, stage)"
    )
    unmapped: Literal["keep", "null", "error"] = Field(
        "keep", description="a value `map` does not list: kept, made empty, or an error"
    )
    map_file: str | None = Field(
        None, description="a two-column CSV (source value, canonical value), e.g. user logins"
    )
    default: Any = Field(None, description="used when the result is empty")
    compare: Literal["exact", "ignore_case", "trimmed", "digits", "number", "date",
                     "timestamp"] = Field(
        "exact", description="how the migrated value is compared with the mapped source value "
        "(digits: only the digits count, for phones formatted differently)"
    )

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        origins = [name for name in ("from_", "concat", "value") if
                   getattr(self, name) is not None]
        if len(origins) != 1:
            raise ValueError("a field mapping needs exactly one of `from`, `concat`, `value`")
        if self.split is not None and self.from_ is None:
            raise ValueError("`split` takes a part of the `from` column")
        return self


class QualityRules(Strict):
    """Cleansing rules checked on the source before migration (the data-quality report)."""

    email: list[str] = Field(default_factory=list, description="columns that must be e-mails")
    phone: list[str] = Field(default_factory=list, description="columns that must be phones")
    required: list[str] = Field(default_factory=list, description="columns never empty")
    duplicates: list[list[str] | str] = Field(
        default_factory=list,
        description="column sets that must identify one person (e.g. [Email] or [First, Last])",
    )


class MigrationSpec(Strict):
    """The plan's `migration:` section."""

    source: dict[str, SourceTable] = Field(description="entity -> the legacy extract")
    target: dict[str, TargetTable] = Field(description="entity -> where it was migrated to")
    mapping: dict[str, dict[str, FieldMapping]] = Field(
        default_factory=dict, description="entity -> canonical field -> how it is made"
    )
    quality: dict[str, QualityRules] = Field(
        default_factory=dict, description="entity -> cleansing rules on the source"
    )
    sample_rows: int = Field(10, ge=0, le=1000, description="mismatching rows shown per check")
    memory_limit: str = Field(
        "400MB", description="DuckDB's memory limit for the comparison (it spills to disk beyond)"
    )
    threads: int | None = Field(
        None, ge=1, description="threads DuckDB compares with (default: one per core)"
    )

    @model_validator(mode="after")
    def _entities_agree(self) -> MigrationSpec:
        for entity in self.target:
            if entity not in self.source:
                raise ValueError(f"target '{entity}' has no source")
        for entity in self.mapping:
            if entity not in self.source:
                raise ValueError(f"mapping '{entity}' has no source")
        return self
