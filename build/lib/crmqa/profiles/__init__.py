"""Target profiles: how one CRM product speaks (auth, endpoints, field mapping, pagination).

Public API: `resolve_profile(name_or_path, base_dir) -> Profile`, `Profile.supports(cap)`,
`resolve_target(name, target, base_dir) -> ResolvedTarget`, and the adapter extension point in
`crmqa.profiles.adapter`.
"""

from crmqa.profiles.loader import builtin_profiles, load_profile, resolve_profile
from crmqa.profiles.models import EntitySpec, Profile
from crmqa.profiles.target import Identity, ResolvedTarget, Secret, resolve_target

__all__ = [
    "EntitySpec",
    "Identity",
    "Profile",
    "ResolvedTarget",
    "Secret",
    "builtin_profiles",
    "load_profile",
    "resolve_profile",
    "resolve_target",
]
