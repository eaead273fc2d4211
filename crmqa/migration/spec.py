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

Every key is validated like the rest of the plan (unknown keys, wrong types, positions); files
and columns are checked by the migration step check before anything runs (crmqa.validation).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from crmqa.plan.steps import Strict

SourceFormat = Literal["csv", "tsv", "parquet", "xlsx", "sqlite", "json"]


class SourceTable(Strict):
    """One table of data in a file: a CSV/TSV/Parquet/JSON file, an XLSX sheet, a SQLite table."""

    file: str = Field(description="path, relative to the plan's folder or a parent of it")
    format: SourceFormat | None = Field(None, description="default: from the file's suffix")
    table: str | None = Field(None, description="the SQLite table or XLSX sheet to read")
    encoding: str = Field("utf-8", description="text encoding of a CSV/TSV file")
    delimiter: str | None = Field(None, description="CSV delimiter (default: detected)")
    key: str | list[str] = Field(description="the column(s) that identify a record")

    @property
    def keys(self) -> list[str]:
        return [self.key] if isinstance(self.key, str) else list(self.key)


class TargetTable(Strict):
    """Where the migrated records are read back: through the CRM, or from an extract."""

    from_: Literal["crm"] | None = Field(
        None, alias="from",
        description="`crm`: read through the target's profile (its export, else every list "
        "page); omit it and give `file` for an extract the vendor delivers",
    )
    file: str | None = Field(None, description="an extract of the migrated records")
    format: SourceFormat | None = Field(None, description="default: from the file's suffix")
    table: str | None = Field(None, description="the SQLite table or XLSX sheet to read")
    encoding: str = Field("utf-8", description="text encoding of a CSV/TSV extract")
    delimiter: str | None = Field(None, description="CSV delimiter (default: detected)")
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

    @model_validator(mode="after")
    def _one_place(self) -> TargetTable:
        if (self.from_ is None) == (self.file is None):
            raise ValueError("a target needs exactly one of `from: crm` or `file`")
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

    @model_validator(mode="after")
    def _entities_agree(self) -> MigrationSpec:
        for entity in self.target:
            if entity not in self.source:
                raise ValueError(f"target '{entity}' has no source")
        for entity in self.mapping:
            if entity not in self.source:
                raise ValueError(f"mapping '{entity}' has no source")
        return self
