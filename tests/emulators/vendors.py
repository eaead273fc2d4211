"""The three emulated vendors as the tests use them: each emulator with the tenant the
acceptance plan's requirements call for, the plan, and the environment its target reads.

A tenant here is what a real customer's administrator configures (validation rules,
duplicate rules, validation plug-ins, property validation rules): documented features of
each product, set up as the plan's requirements ask. The emulators themselves only carry the
vendor's documented platform behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.emulators import dynamics365_emulator as dynamics
from tests.emulators import hubspot_emulator as hubspot
from tests.emulators import salesforce_emulator as salesforce
from tests.emulators._server import EmulatorServer

PLANS = Path(__file__).resolve().parent / "plans"
EMAIL = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
PHONE = r"\+?[0-9 ()\-]{7,20}"


@dataclass
class Vendor:
    """One emulated vendor: how to start it and what its plan's target needs."""

    name: str
    plan: Path
    start: Callable[[], EmulatorServer]
    env: Callable[[EmulatorServer], dict[str, str]]


SALESFORCE_TENANT = salesforce.Tenant(
    validation_rules=[
        salesforce.ValidationRule("Lead", "FirstName", "Enter the lead's first name.",
                                  blank=True),
        salesforce.ValidationRule("Lead", "Email", "Enter the lead's email address.",
                                  blank=True),
        salesforce.ValidationRule("Lead", "Phone", "Enter a phone number: digits, spaces, "
                                  "+ - ( ), 7 to 20 characters.", not_matching=PHONE),
    ],
    duplicate_rules=[salesforce.DuplicateRule("Lead", ("Email",), name="Lead_Email")],
)


def _salesforce() -> EmulatorServer:
    return EmulatorServer(lambda url: salesforce.SalesforceEmulator(url, SALESFORCE_TENANT))


def _salesforce_env(server: EmulatorServer) -> dict[str, str]:
    return {"SALESFORCE_URL": server.base_url,
            "SALESFORCE_CLIENT_ID": SALESFORCE_TENANT.client_id,
            "SALESFORCE_CLIENT_SECRET": SALESFORCE_TENANT.client_secret}


DYNAMICS_TENANT = dynamics.Tenant(plugins=[
    dynamics.PluginCheck("leads", "firstname", "firstname: Enter the lead's first name.",
                         blank=True),
    dynamics.PluginCheck("leads", "lastname", "lastname: Enter the lead's last name.",
                         blank=True),
    dynamics.PluginCheck("leads", "emailaddress1", "emailaddress1: Enter the lead's email "
                         "address.", blank=True),
    dynamics.PluginCheck("leads", "emailaddress1", "emailaddress1: Enter a valid email "
                         "address.", not_matching=EMAIL),
    dynamics.PluginCheck("leads", "emailaddress1", "emailaddress1: Another lead already has "
                         "this email address.", unique=True),
    dynamics.PluginCheck("leads", "telephone1", "telephone1: Enter a phone number: digits, "
                         "spaces, + - ( ), 7 to 20 characters.", not_matching=PHONE),
])
# The account acceptance-test cases are filed under (a case needs a customer).
CASE_ACCOUNT_ID = "0a0a0a0a-0000-4000-8000-00000000ca5e"


def _dynamics() -> EmulatorServer:
    def make(url: str) -> dynamics.Dynamics365Emulator:
        emulator = dynamics.Dynamics365Emulator(url, DYNAMICS_TENANT)
        emulator._insert("accounts", {"name": "Acceptance testing"}, CASE_ACCOUNT_ID)
        return emulator

    return EmulatorServer(make)


def _dynamics_env(server: EmulatorServer) -> dict[str, str]:
    return {"DYNAMICS365_URL": server.base_url, "DYNAMICS365_LOGIN_URL": server.base_url,
            "DYNAMICS365_TENANT_ID": DYNAMICS_TENANT.tenant_id,
            "DYNAMICS365_CLIENT_ID": DYNAMICS_TENANT.client_id,
            "DYNAMICS365_CLIENT_SECRET": DYNAMICS_TENANT.client_secret,
            "DYNAMICS365_CASE_ACCOUNT_ID": CASE_ACCOUNT_ID}


HUBSPOT_TENANT = hubspot.Tenant(rules=[
    *(hubspot.ValidationRule("contacts", name, "MIN_LENGTH", "1", f"Enter the {label}.")
      for name, label in (("firstname", "first name"), ("lastname", "last name"),
                          ("email", "email address"))),
    *(hubspot.ValidationRule("contacts", name, "MAX_LENGTH", "50", f"The {label} is longer "
                             "than 50 characters.")
      for name, label in (("firstname", "first name"), ("lastname", "last name"))),
    hubspot.ValidationRule("contacts", "phone", "REGEX", PHONE, "Enter a phone number: "
                           "digits, spaces, + - ( ), 7 to 20 characters."),
])


def _hubspot() -> EmulatorServer:
    return EmulatorServer(lambda url: hubspot.HubSpotEmulator(url, HUBSPOT_TENANT))


def _hubspot_env(server: EmulatorServer) -> dict[str, str]:
    return {"HUBSPOT_URL": server.base_url, "HUBSPOT_TOKEN": HUBSPOT_TENANT.token}


VENDORS: dict[str, Vendor] = {
    "hubspot": Vendor("hubspot", PLANS / "hubspot.yaml", _hubspot, _hubspot_env),
    "salesforce": Vendor("salesforce", PLANS / "salesforce.yaml", _salesforce,
                         _salesforce_env),
    "dynamics365": Vendor("dynamics365", PLANS / "dynamics365.yaml", _dynamics, _dynamics_env),
}
